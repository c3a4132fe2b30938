"""What customers are told, in Indonesian and English. Texts carry a reference, never personal data."""

from __future__ import annotations

from dataclasses import dataclass

TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    # kind -> language -> (email subject, text)
    "complaint_received": {
        "id": ("Keluhan Anda kami terima ({ref})",
               "Relasi: Keluhan Anda telah kami terima dengan nomor {ref}. Tim {department} kami akan segera "
               "menindaklanjuti. Terima kasih."),
        "en": ("We received your complaint ({ref})",
               "Relasi: We received your complaint, reference {ref}. Our {department} team will follow it up "
               "shortly. Thank you."),
    },
    "complaint_resolved": {
        "id": ("Keluhan Anda telah diselesaikan ({ref})",
               "Relasi: Keluhan Anda dengan nomor {ref} telah diselesaikan. Balas atau hubungi kami bila masih "
               "ada kendala."),
        "en": ("Your complaint is resolved ({ref})",
               "Relasi: Your complaint {ref} has been resolved. Reply or contact us if anything is still wrong."),
    },
    # Orders (chalicelib/workflows/stream.py): the order number and what the customer needs, within one SMS.
    "order_confirmed": {
        "id": ("Pesanan {order_no} dikonfirmasi",
               "Relasi: Pesanan {order_no} sudah kami konfirmasi{expected}. Terima kasih."),
        "en": ("Order {order_no} confirmed",
               "Relasi: Your order {order_no} is confirmed{expected}. Thank you."),
    },
    # A shipment (chalicelib/workflows/shipments.py): {track} is " Lacak: <link>" / " Track: <link>" or "".
    "order_shipped": {
        "id": ("Pesanan {order_no} dikirim",
               "Relasi: Pesanan {order_no} dikirim via {carrier}{expected}.{track}"),
        "en": ("Order {order_no} shipped",
               "Relasi: Your order {order_no} was shipped via {carrier}{expected}.{track}"),
    },
    "order_out_for_delivery": {
        "id": ("Pesanan {order_no} sedang diantar",
               "Relasi: Pesanan {order_no} sedang diantar kurir {carrier} hari ini.{track}"),
        "en": ("Order {order_no} is out for delivery",
               "Relasi: Your order {order_no} is out for delivery with {carrier} today.{track}"),
    },
    "order_delayed": {
        "id": ("Pengiriman pesanan {order_no} terlambat",
               "Relasi: Maaf, pengiriman pesanan {order_no} terlambat. Perkiraan tiba: {date}.{track}"),
        "en": ("Order {order_no} is delayed",
               "Relasi: Sorry, your order {order_no} is delayed. Now expected on {date}.{track}"),
    },
    # The late-deliveries job found it late (no new date yet): the complaint's reference to quote.
    "order_late": {
        "id": ("Pesanan {order_no} terlambat",
               "Relasi: Maaf, pesanan {order_no} belum tiba sesuai janji. Tim pengiriman kami menanganinya, "
               "nomor {ref}."),
        "en": ("Order {order_no} is late",
               "Relasi: Sorry, your order {order_no} has not arrived as promised. Our shipment team is on it, "
               "reference {ref}."),
    },
    "order_delivered": {
        "id": ("Pesanan {order_no} diterima",
               "Relasi: Pesanan {order_no} sudah diterima. Terima kasih telah berbelanja di Relasi."),
        "en": ("Order {order_no} delivered",
               "Relasi: Your order {order_no} has been delivered. Thank you for shopping with Relasi."),
    },
    # The workshop (chalicelib/workflows/service.py): the reference, the time, the amount; never the plate.
    "appointment_booked": {
        "id": ("Servis terjadwal {when} ({ref})",
               "Relasi: Jadwal servis kendaraan Anda {when} di bengkel {branch} sudah kami catat (no. {ref}). "
               "Sampai jumpa."),
        "en": ("Service booked for {when} ({ref})",
               "Relasi: Your vehicle's service is booked for {when} at our {branch} workshop (no. {ref}). "
               "See you then."),
    },
    "appointment_reminder": {
        "id": ("Pengingat servis besok {when}",
               "Relasi: Pengingat, servis kendaraan Anda besok {when} di bengkel {branch} (no. {ref}). "
               "Hubungi kami bila ingin mengubah jadwal."),
        "en": ("Reminder: service tomorrow {when}",
               "Relasi: Reminder, your vehicle's service is tomorrow {when} at our {branch} workshop "
               "(no. {ref}). Call us to change it."),
    },
    "work_order_checked_in": {
        "id": ("Kendaraan Anda kami terima ({ref})",
               "Relasi: Kendaraan Anda sudah kami terima (no. {ref}). Perkiraan selesai {eta}."),
        "en": ("We have your vehicle ({ref})",
               "Relasi: We have received your vehicle (no. {ref}). Expected ready {eta}."),
    },
    "work_order_estimate": {
        "id": ("Estimasi biaya menunggu persetujuan ({ref})",
               "Relasi: Estimasi biaya servis no. {ref}: {amount}. Hubungi kami untuk menyetujui."),
        "en": ("An estimate waits for your approval ({ref})",
               "Relasi: The estimate for service no. {ref} is {amount}. Call us to approve it."),
    },
    "work_order_delayed": {
        "id": ("Servis terlambat ({ref})",
               "Relasi: Mohon maaf, servis no. {ref} perlu waktu lebih lama. Perkiraan selesai {eta}."),
        "en": ("Your service is delayed ({ref})",
               "Relasi: Sorry, service no. {ref} needs more time. Now expected ready {eta}."),
    },
    "work_order_ready": {
        "id": ("Kendaraan Anda siap diambil ({ref})",
               "Relasi: Kendaraan Anda (no. {ref}) sudah selesai dan siap diambil. Terima kasih."),
        "en": ("Your vehicle is ready ({ref})",
               "Relasi: Your vehicle (no. {ref}) is ready for pick-up. Thank you."),
    },
    # Satisfaction surveys (chalicelib/workflows/surveys.py): the question's page is the link; never a reply.
    "survey_complaint": {
        "id": ("Bagaimana penanganan keluhan Anda? ({ref})",
               "Relasi: Bagaimana penanganan keluhan {ref}? Beri nilai 1-5: {link}"),
        "en": ("How did we handle your complaint? ({ref})",
               "Relasi: How did we handle complaint {ref}? Rate us 1-5: {link}"),
    },
    "survey_work_order": {
        "id": ("Bagaimana servis kendaraan Anda? ({ref})",
               "Relasi: Bagaimana servis no. {ref}? Beri nilai 1-5: {link}"),
        "en": ("How was your vehicle's service? ({ref})",
               "Relasi: How was service no. {ref}? Rate us 1-5: {link}"),
    },
    "survey_order": {
        "id": ("Bagaimana pesanan {ref} Anda?",
               "Relasi: Bagaimana pesanan {ref}? Beri nilai 1-5: {link}"),
        "en": ("How was your order {ref}?",
               "Relasi: How was order {ref}? Rate us 1-5: {link}"),
    },
    # Reminders (chalicelib/domain/reminders.py builds the fields). A greeting is
    # marketing: its SMS says how to opt out ({stop} is empty in an email).
    "birthday": {
        "id": ("Selamat ulang tahun dari Relasi",
               "Relasi: Selamat ulang tahun! Semoga sehat, bahagia dan sukses selalu. Terima kasih telah menjadi "
               "pelanggan kami.{stop}"),
        "en": ("Happy birthday from Relasi",
               "Relasi: Happy birthday! Wishing you health, happiness and success. Thank you for being our "
               "customer.{stop}"),
    },
    "due_reminder": {
        "id": ("Pengingat: {title}, jatuh tempo {date}",
               "Relasi: Pengingat, {title} jatuh tempo {when}, {date}{amount}. Abaikan pesan ini bila sudah "
               "diselesaikan. Terima kasih."),
        "en": ("Reminder: {title}, due {date}",
               "Relasi: Reminder, {title} is due {when}, {date}{amount}. Please ignore this message if it is "
               "already settled. Thank you."),
    },
}

DEPARTMENT_NAMES = {
    "id": {"sales": "penjualan", "service": "servis", "quality_control": "kendali mutu", "shipment": "pengiriman",
           "finance": "keuangan", "customer_care": "layanan pelanggan"},
    "en": {"sales": "sales", "service": "service", "quality_control": "quality control", "shipment": "shipment",
           "finance": "finance", "customer_care": "customer care"},
}


@dataclass(frozen=True)
class Message:
    kind: str
    subject: str
    text: str


def render(kind: str, language: str, **fields: str) -> Message:
    lang = language if language in TEMPLATES[kind] else "id"
    subject, text = TEMPLATES[kind][lang]
    if "department" in fields:
        fields = {**fields, "department": DEPARTMENT_NAMES[lang].get(fields["department"], fields["department"])}
    return Message(kind, subject.format(**fields), text.format(**fields))


def reference(entity_id: str) -> str:
    """A short reference a customer can read out on the phone (the id's random tail)."""
    return entity_id[-8:]
