"""The console's words in Indonesian (default) and English, and Indonesian formats: `Rp 1.250.000`,
`2 Des 2026 14.05` (Asia/Jakarta, the deployment's TIMEZONE)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

LANGUAGES = ("id", "en")
MONTHS = {"id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
          "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")}

WORDS: dict[str, tuple[str, str]] = {  # key -> (Indonesian, English)
    "app": ("Relasi", "Relasi"),
    "loading": ("Memuat…", "Loading…"),
    "sign_in": ("Masuk", "Sign in"),
    "sign_out": ("Keluar", "Sign out"),
    "username": ("Nama pengguna", "Username"),
    "password": ("Kata sandi", "Password"),
    "sign_in.failed": ("Nama pengguna atau kata sandi salah.", "Wrong username or password."),
    "sign_in.expired": ("Sesi Anda berakhir. Silakan masuk lagi.", "Your session ended. Please sign in again."),
    "optout.title": ("Berhenti berlangganan", "Unsubscribe"),
    "optout.question.sms": ("Berhenti menerima SMS promosi dari kami?", "Stop receiving promotional SMS from us?"),
    "optout.question.email": ("Berhenti menerima email promosi dari kami?",
                              "Stop receiving promotional email from us?"),
    "optout.note": ("Pesan tentang pesanan, servis, dan keluhan Anda tetap kami kirim.",
                    "Messages about your orders, service and complaints still reach you."),
    "optout.confirm": ("Ya, berhenti", "Yes, stop them"),
    "optout.done": ("Selesai. Anda tidak akan menerima promosi lewat saluran ini lagi.",
                    "Done. You will not get promotions on this channel any more."),
    "optout.invalid": ("Tautan ini tidak berlaku.", "This link is not valid."),
    "optout.other_language": ("English", "Bahasa Indonesia"),
    "menu.search": ("Cari pelanggan", "Find a customer"),
    "menu.queue": ("Antrean keluhan", "Complaint queue"),
    "menu.dashboard": ("Dasbor", "Dashboard"),
    "page.pop": ("Panggilan masuk", "Incoming call"),
    "page.customer": ("Pelanggan", "Customer"),
    "page.new_customer": ("Pelanggan baru", "New customer"),
    "search.placeholder": ("Nama atau nomor telepon", "Name or phone number"),
    "search.none": ("Tidak ada pelanggan yang cocok.", "No matching customer."),
    "more": ("Lebih banyak", "More"),
    "pop.unknown": ("Nomor ini belum terdaftar.", "This number is not known yet."),
    "pop.create": ("Daftarkan pelanggan baru", "Register a new customer"),
    "open_360": ("Buka profil lengkap", "Open the full profile"),
    "name": ("Nama", "Name"),
    "phone": ("Telepon", "Phone"),
    "email": ("Email", "Email"),
    "city": ("Kota", "City"),
    "address": ("Alamat", "Address"),
    "branch": ("Cabang", "Branch"),
    "stage": ("Tahap", "Stage"),
    "preferred_channel": ("Saluran pilihan", "Preferred channel"),
    "consent": ("Persetujuan", "Consent"),
    "consent.sms_marketing": ("SMS pemasaran", "Marketing SMS"),
    "consent.email_marketing": ("Email pemasaran", "Marketing email"),
    "consent.source": ("Sumber persetujuan", "Source of the consent"),
    "consent.yes": ("ya", "yes"),
    "consent.no": ("tidak", "no"),
    "consent.unknown": ("belum ditanya", "not asked"),
    "save": ("Simpan", "Save"),
    "saved": ("Tersimpan.", "Saved."),
    "reload": ("Muat ulang", "Reload"),
    "edit_profile": ("Ubah profil", "Edit profile"),
    "timeline": ("Riwayat", "Timeline"),
    "timeline.empty": ("Belum ada riwayat.", "Nothing yet."),
    "record_interaction": ("Catat interaksi", "Record an interaction"),
    "channel": ("Saluran", "Channel"),
    "direction": ("Arah", "Direction"),
    "kind": ("Jenis", "Kind"),
    "summary": ("Ringkasan", "Summary"),
    "record": ("Catat", "Record"),
    "due_items": ("Jatuh tempo", "Due items"),
    "due_items.none": ("Tidak ada.", "None."),
    "complaints": ("Keluhan", "Complaints"),
    "complaints.open_none": ("Tidak ada keluhan terbuka.", "No open complaints."),
    "open_complaint": ("Buka keluhan", "Open a complaint"),
    "category": ("Kategori", "Category"),
    "severity": ("Tingkat", "Severity"),
    "subject": ("Perihal", "Subject"),
    "description": ("Keterangan", "Description"),
    "department": ("Departemen", "Department"),
    "assignee": ("Petugas", "Assignee"),
    "resolution_note": ("Catatan penyelesaian", "Resolution note"),
    "deadline": ("Tenggat", "Deadline"),
    "status": ("Status", "Status"),
    "assign_to_me": ("Ambil", "Take it"),
    "erase": ("Hapus pelanggan", "Erase the customer"),
    "erase.confirm": ("Hapus pelanggan ini beserta seluruh riwayatnya? Tindakan ini tidak dapat dibatalkan.",
                      "Erase this customer and all their history? This cannot be undone."),
    "erase.done": ("Pelanggan dihapus.", "The customer was erased."),
    "all": ("Semua", "All"),
    "sla.left": ("sisa", "left"),
    "sla.late": ("terlambat", "late"),
    "queue.empty": ("Tidak ada keluhan terbuka di sini.", "No open complaints here."),
    "queue.cut": ("Terlalu banyak keluhan terbuka untuk satu daftar: saring menurut departemen atau cabang.",
                  "Too many open complaints for one list: filter by department or branch."),
    "queue.refreshed": ("Diperbarui tiap 30 detik", "Refreshed every 30 seconds"),
    "dash.window": ("30 hari terakhir", "The last 30 days"),
    "dash.opened_resolved": ("Keluhan dibuka dan diselesaikan per hari", "Complaints opened and resolved per day"),
    "dash.breaches": ("Pelanggaran SLA per departemen", "SLA breaches by department"),
    "dash.interactions": ("Interaksi per hari menurut saluran", "Interactions per day by channel"),
    "dash.stages": ("Pelanggan menurut tahap", "Customers by stage"),
    "dash.churn": ("Risiko berhenti", "Churn risk"),
    "dash.churn_list": ("Pelanggan paling berisiko", "Customers most at risk"),
    "dash.no_export": ("Belum ada ekspor analitik.", "No analytics export yet."),
    "dash.score": ("Skor", "Score"),
    "dash.reasons": ("Alasan", "Reasons"),
    "dash.customers": ("pelanggan", "customers"),
    "error.signed_out": ("Silakan masuk terlebih dahulu.", "Please sign in first."),
    "error.forbidden": ("Peran Anda ({role}) tidak boleh membuka halaman ini.",
                        "Your role ({role}) may not open this page."),
    "error.forbidden_record": ("Anda tidak boleh melakukan ini.", "You may not do this."),
    "error.not_found": ("Tidak ditemukan.", "Not found."),
    "error.conflict": ("Langkah ini tidak diperbolehkan sekarang.", "This step is not allowed now."),
    "error.allowed": ("Yang boleh sekarang", "Allowed now"),
    "error.changed": ("Data ini baru saja diubah orang lain. Muat ulang untuk melihat versi terbaru; perubahan Anda "
                      "belum disimpan.", "Someone else changed this just now. Reload to see the latest version; "
                      "your change was not saved."),
    "error.invalid": ("Periksa isian berikut.", "Please check these fields."),
    "error.busy": ("Sistem sedang sibuk; coba lagi sebentar lagi.", "The system is busy; try again in a moment."),
    "error.unexpected": ("Terjadi kesalahan. Coba lagi.", "Something went wrong. Try again."),
    "error.taken": ("Nomor atau email ini sudah dipakai pelanggan lain.",
                    "Another customer already has this phone or email."),
    "action.acknowledged": ("Terima", "Acknowledge"),
    "action.in_progress": ("Kerjakan", "Start work"),
    "action.resolved": ("Selesaikan", "Resolve"),
    "stage.lead": ("calon", "lead"),
    "stage.prospect": ("prospek", "prospect"),
    "stage.customer": ("pelanggan", "customer"),
    "stage.inactive": ("tidak aktif", "inactive"),
    "stage.churned": ("berhenti", "churned"),
    "department.sales": ("penjualan", "sales"),
    "department.service": ("servis", "service"),
    "department.quality_control": ("kendali mutu", "quality control"),
    "department.shipment": ("pengiriman", "shipment"),
    "department.finance": ("keuangan", "finance"),
    "department.customer_care": ("layanan pelanggan", "customer care"),
    "category.sales": ("penjualan", "sales"),
    "category.service": ("servis", "service"),
    "category.quality_control": ("mutu produk", "product quality"),
    "category.shipment": ("pengiriman", "shipment"),
    "category.billing": ("tagihan", "billing"),
    "category.other": ("lainnya", "other"),
    "severity.low": ("rendah", "low"),
    "severity.medium": ("sedang", "medium"),
    "severity.high": ("tinggi", "high"),
    "severity.critical": ("kritis", "critical"),
    "menu.orders": ("Pesanan", "Orders"),
    "page.order": ("Pesanan", "Order"),
    "orders.placeholder": ("Nomor pesanan atau telepon pelanggan", "Order number or the customer's phone"),
    "orders.none": ("Tidak ada pesanan yang cocok.", "No matching order."),
    "order_no": ("Nomor pesanan", "Order number"),
    "order.lines": ("Barang", "Lines"),
    "order.qty": ("Jumlah", "Qty"),
    "order.unit_price": ("Harga satuan", "Unit price"),
    "order.discount": ("Diskon", "Discount"),
    "order.tax": ("Pajak", "Tax"),
    "order.total": ("Total", "Total"),
    "order.subtotal": ("Subtotal", "Subtotal"),
    "order.net_total": ("Total bayar", "Amount due"),
    "order.payment": ("Pembayaran", "Payment"),
    "order.promised": ("Dijanjikan tiba", "Promised for"),
    "order.placed": ("Dipesan", "Placed"),
    "order.history": ("Riwayat pesanan", "Order history"),
    "order.move": ("Ubah status", "Change status"),
    "order.return_reason": ("Alasan pengembalian", "Reason for the return"),
    "order.late": ("Terlambat sejak", "Late since"),
    "order.late_case": ("keluhan pengiriman", "shipment complaint"),
    "ship.title": ("Pengiriman", "Shipments"),
    "ship.none": ("Belum ada pengiriman.", "No shipments yet."),
    "ship.new": ("Kirim barang", "Ship lines"),
    "ship.carrier": ("Kurir", "Carrier"),
    "ship.tracking": ("No. resi", "Tracking number"),
    "ship.expected": ("Perkiraan tiba", "Expected"),
    "ship.track": ("lacak", "track"),
    "ship.event": ("Catat kejadian", "Record a step"),
    "ship.not_applied": ("tidak mengubah status", "changed nothing"),
    "ship.create": ("Buat pengiriman", "Create shipment"),
    "sstatus.label_created": ("label dibuat", "label created"),
    "sstatus.picked_up": ("diambil kurir", "picked up"),
    "sstatus.in_transit": ("dalam perjalanan", "in transit"),
    "sstatus.out_for_delivery": ("sedang diantar", "out for delivery"),
    "sstatus.delivered": ("diterima", "delivered"),
    "sstatus.attempted_delivery": ("gagal antar, dicoba lagi", "delivery attempted"),
    "sstatus.delayed": ("terlambat", "delayed"),
    "sstatus.failed": ("gagal", "failed"),
    "sstatus.returning": ("dikembalikan ke pengirim", "returning"),
    "ostatus.draft": ("draf", "draft"),
    "ostatus.confirmed": ("dikonfirmasi", "confirmed"),
    "ostatus.partially_shipped": ("dikirim sebagian", "partially shipped"),
    "ostatus.shipped": ("dikirim", "shipped"),
    "ostatus.delivered": ("diterima", "delivered"),
    "ostatus.closed": ("selesai", "closed"),
    "ostatus.cancelled": ("dibatalkan", "cancelled"),
    "ostatus.returned": ("dikembalikan", "returned"),
    "pay.unpaid": ("belum dibayar", "unpaid"),
    "pay.partial": ("dibayar sebagian", "partly paid"),
    "pay.paid": ("lunas", "paid"),
    "pay.refunded": ("dikembalikan", "refunded"),
    "band.low": ("rendah", "low"),
    "band.medium": ("sedang", "medium"),
    "band.high": ("tinggi", "high"),
    "status.open": ("terbuka", "open"),
    "status.acknowledged": ("diterima", "acknowledged"),
    "status.in_progress": ("dikerjakan", "in progress"),
    "status.resolved": ("selesai", "resolved"),
    "status.closed": ("ditutup", "closed"),
}


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "id"

    def __call__(self, key: str, **values: Any) -> str:
        pair = WORDS.get(key)
        if pair is None:
            return key.rsplit(".", 1)[-1].replace("_", " ")  # an enum value without a word: itself
        text = pair[0] if self.lang == "id" else pair[1]
        return text.format(**values) if values else text


def format_money(amount: Decimal | int | str | None) -> str:
    """`Rp 1.250.000` (whole rupiah, half up), `Rp 1.250.000,50` when there are cents; '' for None."""
    if amount is None or amount == "":
        return ""
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    whole, cents = divmod(abs(value), 1)
    text = f"{int(whole):,}".replace(",", ".")
    if cents:
        text += "," + f"{int(cents * 100):02d}"
    return ("-" if value < 0 else "") + "Rp " + text


def format_datetime(stamp: str | datetime | None, lang: str = "id", timezone: str | None = None) -> str:
    """`2 Des 2026 14.05` in the deployment's time zone (Asia/Jakarta); English: `2 Dec 2026 14:05`."""
    if not stamp:
        return ""
    from chalicelib.domain.clock import parse_iso

    if timezone is None:
        from chalicelib.config import settings

        timezone = settings().timezone
    moment = parse_iso(stamp) if isinstance(stamp, str) else stamp
    local = moment.astimezone(ZoneInfo(timezone))
    month = MONTHS[lang if lang in MONTHS else "id"][local.month - 1]
    separator = "." if lang == "id" else ":"
    return f"{local.day} {month} {local.year} {local.hour:02d}{separator}{local.minute:02d}"
