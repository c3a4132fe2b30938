"""Request and response models of complaints."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chalicelib import config as C
from chalicelib.api.models import BranchId, Output, PageQuery, Strict
from chalicelib.api.vehicles_models import Vin
from chalicelib.domain.complaints import Category, ComplaintChanges, Department, NewComplaint, QcDetails, Severity
from chalicelib.domain.complaints import Status as ComplaintStatus

QC_FIELDS = ("vin", "part_no", "batch_no", "defect_code")
# fields that only a complaint of one category takes
CATEGORY_OF_FIELD = {**dict.fromkeys(QC_FIELDS, Category.QUALITY_CONTROL), "work_order_id": Category.SERVICE}
QcCode = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"),
                   AfterValidator(str.upper), Field(description="a part, batch or defect code: letters, digits . _ / -")]


class ComplaintCreate(Strict):
    MULTILINE = frozenset({"description"})

    category: Category
    severity: Severity
    subject: Annotated[str, StringConstraints(min_length=1, max_length=C.SUBJECT_MAX_CHARS)]
    description: Annotated[str, StringConstraints(min_length=1, max_length=C.DESCRIPTION_MAX_CHARS)]
    ref: Annotated[str, StringConstraints(min_length=1, max_length=C.REF_MAX_CHARS)] | None = None
    vin: Vin | None = None
    part_no: QcCode | None = None
    batch_no: QcCode | None = None
    defect_code: QcCode | None = None
    work_order_id: Annotated[str, StringConstraints(min_length=26, max_length=26)] | None = Field(
        default=None, description="category service: the customer's work order it is about")

    @field_validator(*CATEGORY_OF_FIELD, mode="after")
    @classmethod
    def _field_of_its_category_only(cls, value: Any, info: ValidationInfo) -> Any:
        category, wanted = info.data.get("category"), CATEGORY_OF_FIELD[str(info.field_name)]
        if value is not None and category is not None and category != wanted:
            raise ValueError(f"only a {wanted.value} complaint takes it")
        return value

    def to_domain(self) -> NewComplaint:
        qc = QcDetails(vin=self.vin, part_no=self.part_no, batch_no=self.batch_no, defect_code=self.defect_code)
        return NewComplaint(category=self.category.value, severity=self.severity.value, subject=self.subject,
                            description=self.description, ref=self.ref, qc=qc if any(
                                getattr(self, n) for n in QC_FIELDS) else None, work_order_id=self.work_order_id)


class ComplaintPatch(Strict):
    """Move the case along its lifecycle, (re)assign it, note the resolution."""

    MULTILINE = frozenset({"resolution_note"})

    status: ComplaintStatus = None  # type: ignore[assignment]
    assignee: Annotated[str, StringConstraints(min_length=1, max_length=C.ASSIGNEE_MAX_CHARS)] | None = None
    resolution_note: Annotated[str, StringConstraints(min_length=1, max_length=C.RESOLUTION_NOTE_MAX_CHARS)] | None = None
    factory_defect: bool | None = Field(default=None, description="quality_control only: QC's finding, true when "
                                                                 "the defect came from the factory; null takes it back")

    @model_validator(mode="before")
    @classmethod
    def _status_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict) and "status" in data and data["status"] is None:
            raise ValueError("status cannot be removed")
        return data

    def to_domain(self) -> ComplaintChanges:
        return ComplaintChanges(sent=frozenset(self.model_fields_set),
                                status=self.status.value if self.status is not None else None,
                                assignee=self.assignee, resolution_note=self.resolution_note,
                                factory_defect=self.factory_defect)


class ComplaintHistoryOut(Output):
    model_config = ConfigDict(populate_by_name=True)
    at: str
    by: str
    change: Literal["created", "status", "assignee", "resolution_note", "escalation"]
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class ComplaintFields(Output):
    id: str
    customer_id: str
    branch_id: str
    category: Category
    department: Department
    severity: Severity
    subject: str
    description: str
    status: ComplaintStatus
    created_at: str
    updated_at: str
    created_by: str
    ack_due_at: str
    resolve_due_at: str
    due_at: str | None = Field(description="the next deadline: acknowledge while open, then resolve; null once resolved")
    breached: bool
    escalation_level: int = Field(ge=0, le=3)
    version: int
    ref: str | None = None
    assignee: str | None = None
    resolution_note: str | None = None
    acknowledged_at: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = Field(default=None, description="who resolved it (the staff member's id); null "
                                    "until resolved, and again when reopened")
    resolved_branch: str | None = Field(default=None, description="the branch it was resolved in")
    closed_at: str | None = None
    reopened_at: str | None = Field(default=None, description="the last reopen; the resolve deadline runs from it")
    reopens: int = Field(default=0, ge=0, description="how often it was reopened")
    vin: str | None = Field(default=None, description="quality_control: the vehicle")
    part_no: str | None = None
    batch_no: str | None = None
    defect_code: str | None = None
    factory_defect: bool | None = Field(default=None, description="QC's finding (quality_control only)")
    work_order_id: str | None = Field(default=None, description="service: the work order it is about")


class ComplaintOut(ComplaintFields):
    history: list[ComplaintHistoryOut]


class ComplaintPage(Output):
    items: list[ComplaintOut]
    next_cursor: str | None


class ComplaintEntry(ComplaintFields):
    type: Literal["complaint"]


class ComplaintListQuery(PageQuery):
    branch: BranchId | None = None
    department: Department | None = None
    status: ComplaintStatus | None = None
    severity: Severity | None = None
