"""Routes of vehicles: register one for a customer, a customer's list, read by VIN, find by plate (the service desk's
screen-pop), change (models: chalicelib/api/vehicles_models.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api.http import Call, Reply, RouteSpec, View

if TYPE_CHECKING:
    from chalicelib.api.vehicles_models import PlateQuery, VehicleCreate, VehiclePatch
    from chalicelib.domain.vehicles import Vehicle


def _reply(v: Vehicle, status: int = 200, **headers: str) -> Reply:
    from chalicelib.services.vehicles import today

    return Reply(v.to_dict(today()), status, {"ETag": v.etag, **headers})


def create_vehicle(call: Call[VehicleCreate, None], customer_id: str) -> Reply:
    from chalicelib.services import vehicles

    v = vehicles.create(call.caller, customer_id, call.body.to_domain())
    return _reply(v, 201, Location=f"/vehicles/{v.vin}")


def customer_vehicles(call: Call[None, None], customer_id: str) -> Reply:
    from chalicelib.services import vehicles

    return Reply({"items": vehicles.of_customer(call.caller, customer_id)})


def get_vehicle(call: Call[None, None], vin: str) -> Reply:
    from chalicelib.services import vehicles

    return _reply(vehicles.get(call.caller, vin))


def lookup_vehicle(call: Call[None, PlateQuery]) -> Reply:
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.services import vehicles
    from chalicelib.services.appointments import zone

    v = vehicles.lookup(call.caller, call.query.plate)  # type: ignore[arg-type]  # normalised to a Plate
    return Reply({"vehicle": v.to_dict(vehicles.today()), **v.desk_view(iso(utcnow()), zone())}, 200,
                 {"ETag": v.etag})


def patch_vehicle(call: Call[VehiclePatch, None], vin: str) -> Reply:
    from chalicelib.services import vehicles

    return _reply(vehicles.update(call.caller, vin, call.header("If-Match"), call.body.to_domain()))


ONE = "/vehicles/{vin}"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", "/customers/{customer_id}/vehicles", "vehicles.create", "Register a customer's vehicle", 201,
               response="VehicleOut", errors=(400, 401, 403, 404, 409, 413, 415), headers=("ETag", "Location")),
     create_vehicle),
    (RouteSpec("GET", "/customers/{customer_id}/vehicles", "vehicles.list", "A customer's vehicles",
               response="VehicleList", errors=(401, 403, 404)), customer_vehicles),
    (RouteSpec("GET", "/vehicles/lookup", "vehicles.lookup",
               "Find a vehicle by its plate, with its owner (the service desk's screen-pop)",
               response="VehicleLookupOut", errors=(400, 401, 403, 404), headers=("ETag",)), lookup_vehicle),
    (RouteSpec("GET", ONE, "vehicles.get", "Read a vehicle with its history", response="VehicleOut",
               errors=(401, 403, 404), headers=("ETag",)), get_vehicle),
    (RouteSpec("PATCH", ONE, "vehicles.update",
               "Change a vehicle or give it to another customer (JSON merge patch, If-Match required)",
               response="VehicleOut", errors=(400, 401, 403, 404, 409, 412, 413, 415, 428), headers=("ETag",)),
     patch_vehicle),
]
