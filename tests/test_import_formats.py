"""`finora import` of real exports, as the platforms and Excel write them.

Each file is built from the platform's documented layout (../reference/shops.md
in the workspace: Shopify's customer CSV, WooCommerce's REST objects and
Analytics CSV) and made awkward the way real ones are: a BOM, CRLF, ``;``,
Shopify's apostrophes, quoted multi-line notes, case-duplicate emails,
Nigerian phones in every shape, a cell with two numbers, Excel's scientific
notation, Windows-1252.  The stored customers are checked field by field
through the GraphQL API, not only the counts.
"""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path

import pytest

from app.imports.errors import ImportFileError
from app.imports.sources import open_source
from app.jobs.importer import Options, import_file
from app.models import Customer, Job, keyring
from app.services.imports import Update
from app.shoppers.columns import parse_maps
from tests.conftest import make_tenant
from tests.test_cli import arun
from tests.test_events import listed
from tests.test_import import report_rows

SHOPIFY_HEADER = (
    "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
    "Default Address Address1,Default Address Address2,Default Address City,"
    "Default Address Province Code,Default Address Country Code,Default Address Zip,"
    "Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,"
    "Tax Exempt,Tags,Accepts WhatsApp Marketing,Birthday (customer.metafields.facts.birth_date)"
)
SHOPIFY_ROWS = [
    # 2: everything, with a note over two lines holding a comma
    "'7210448301122,Ada,Obi,Ada.Obi@Shop.ng,yes,Obi Ventures,12 Broad Street,Suite 4,Lagos,LA,"
    "NG,100001,'+2348031234567,'+234 803 123 4567,no,120.50,3,\"Gate code 12,\r\nring twice\","
    "no,vip,no,1990-01-02",
    # 4: no Phone: the default address's phone; no company
    "'7210448301123,Bola,Ade,bola@shop.ng,no,,3 Allen Avenue,,Ikeja,LA,NG,,'0805 123 4567,,no,"
    "0.00,0,,no,,no,",
    # 5: an unclosed quote: unreadable, and the next line is still read
    "'7210448301124,Chidi,\"Eze,chidi@shop.ng,no,,,,,,,,,,no,0.00,0,,no,,no,",
    # 6: a valid email, Excel's scientific notation for the phone: kept without phone
    "'7210448301125,Dayo,Ola,dayo@shop.ng,no,,,,,,,,,2.34803E+12,no,0.00,0,,no,,no,",
    # 7: the same email as line 2, cased otherwise: found
    "'7210448301126,Ada,Obi-Eze,ADA.OBI@shop.NG,no,,,,,,,,,,no,0.00,0,,no,,no,",
    # 8: no name at all: the company
    "'7210448301127,,,eze.stores@shop.ng,no,Eze Stores,,,,,,,,'08031234568,no,0.00,0,,no,,no,",
    # 9: no email: failed
    "'7210448301128,No,Email,,no,,,,,,,,,,no,0.00,0,,no,,no,",
]
CUSTOMERS = """
query ($b: ID!) { customers(businessId: $b, limit: 100) {
  id name email phone address companyName tin } }
"""


def write_shopify(path: Path) -> Path:
    text = "\ufeff" + "\r\n".join([SHOPIFY_HEADER, *SHOPIFY_ROWS]) + "\r\n"
    path.write_bytes(text.encode("utf-8"))
    return path


async def stored(gql, tenant) -> dict[str, dict]:
    data = await gql.data(tenant, CUSTOMERS, {"b": tenant.business_id})
    return {c["email"]: c for c in data["customers"]}


async def test_a_shopify_export_as_exported(gql, tenant, tmp_path):
    source = write_shopify(tmp_path / "customers_export.csv")
    report = tmp_path / "report.csv"
    summary = await import_file(
        source, business_id=tenant.business_id, report=report, show_progress=False
    )
    assert summary.label == "a Shopify customer export"
    assert summary.total == 7 == summary.counted
    assert summary.counts == {"created": 4, "found": 1, "updated": 0, "failed": 1, "unreadable": 1}
    assert [(r[0], r[1], r[3]) for r in report_rows(report)] == [
        ("2", "created", ""),
        ("4", "created", ""),
        ("5", "unreadable", "UNCLOSED_QUOTE"),
        ("6", "created", "phone:INVALID"),
        ("7", "found", ""),
        ("8", "created", ""),
        ("9", "failed", "email:BLANK"),
    ]
    assert "Note" in summary.unused and "Customer ID" in summary.unused
    assert "Birthday (customer.metafields.facts.birth_date)" in summary.unused
    customers = await stored(gql, tenant)
    assert set(customers) == {
        "ada.obi@shop.ng",
        "bola@shop.ng",
        "dayo@shop.ng",
        "eze.stores@shop.ng",
    }
    ada = customers["ada.obi@shop.ng"]
    assert (ada["name"], ada["phone"], ada["companyName"], ada["tin"]) == (
        "Ada Obi",
        "+2348031234567",
        "Obi Ventures",
        None,
    )
    assert ada["address"] == "12 Broad Street, Suite 4, Lagos, LA, 100001, NG"
    bola = customers["bola@shop.ng"]
    assert (bola["name"], bola["phone"], bola["address"], bola["companyName"]) == (
        "Bola Ade",
        "+2348051234567",
        "3 Allen Avenue, Ikeja, LA, NG",
        None,
    )
    assert (customers["dayo@shop.ng"]["name"], customers["dayo@shop.ng"]["phone"]) == (
        "Dayo Ola",
        None,
    )
    eze = customers["eze.stores@shop.ng"]
    assert (eze["name"], eze["companyName"], eze["phone"]) == (
        "Eze Stores",
        "Eze Stores",
        "+2348031234568",
    )


WOO_CUSTOMERS = [
    {
        "id": 25,
        "date_created": "2017-03-21T16:09:28",
        "email": "john.doe@example.ng",
        "first_name": "John",
        "last_name": "Doe",
        "role": "customer",
        "username": "john.doe",
        "billing": {
            "first_name": "John",
            "last_name": "Doe",
            "company": "Doe Trading",
            "address_1": "969 Market",
            "address_2": "",
            "city": "Abuja",
            "state": "FC",
            "postcode": "900001",
            "country": "NG",
            "email": "john.doe@example.ng",
            "phone": "(0803) 555-0101",
        },
        "shipping": {"first_name": "John", "last_name": "Doe", "company": "", "city": "Kano"},
        "is_paying_customer": False,
        "avatar_url": "https://secure.gravatar.com/avatar/x",
        "meta_data": [],
        "_links": {"self": [{"href": "https://shop.example.ng/wp-json/wc/v3/customers/25"}]},
    },
    {  # a customer who only ever filled in the billing form
        "id": 26,
        "email": "",
        "first_name": "",
        "last_name": "",
        "username": "kemi",
        "billing": {
            "first_name": "Kemi",
            "last_name": "Bello",
            "company": "",
            "address_1": "",
            "city": "",
            "email": "kemi@example.ng",
            "phone": "2348061234567",
        },
        "shipping": {},
    },
]


@pytest.mark.parametrize("shape", ["array", "lines"])
async def test_woocommerce_rest_customers(gql, tenant, tmp_path, shape):
    source = tmp_path / "customers.json"
    if shape == "array":  # as GET /wp-json/wc/v3/customers returns it: one compact line
        source.write_text(json.dumps(WOO_CUSTOMERS, separators=(",", ":")))
    else:
        source.write_text("".join(json.dumps(c) + "\n" for c in WOO_CUSTOMERS))
    summary = await import_file(
        source, business_id=tenant.business_id, report=tmp_path / "r.csv", show_progress=False
    )
    assert summary.label == "WooCommerce customer objects (JSON)"
    assert summary.counts["created"] == 2 and summary.counted == 2
    assert {"id", "username", "role", "meta_data", "_links"} <= set(summary.unused)
    customers = await stored(gql, tenant)
    john = customers["john.doe@example.ng"]
    assert (john["name"], john["phone"], john["companyName"], john["address"]) == (
        "John Doe",
        "+2348035550101",
        "Doe Trading",
        "969 Market, Abuja, FC, 900001, NG",
    )
    kemi = customers["kemi@example.ng"]
    assert (kemi["name"], kemi["phone"], kemi["address"]) == ("Kemi Bello", "+2348061234567", None)


async def test_woocommerce_analytics_csv(gql, tenant, tmp_path):
    source = tmp_path / "customers-report.csv"
    source.write_text(
        "Name,Username,Last Active,Date Registered,Email,Orders,Total Spend,AOV,"
        "Country / Region,City,Region,Postal Code\n"
        'Ngozi Okafor,ngozi,2026-11-01,2025-02-03,ngozi@example.ng,4,"₦12,000.00",3000,'
        "NG,Enugu,EN,400001\n"
    )
    summary = await import_file(
        source, business_id=tenant.business_id, report=tmp_path / "r.csv", show_progress=False
    )
    assert summary.label == "a WooCommerce Analytics customers export"
    ngozi = (await stored(gql, tenant))["ngozi@example.ng"]
    assert (ngozi["name"], ngozi["address"]) == ("Ngozi Okafor", "Enugu, EN, 400001, NG")
    assert "Username" in summary.unused and "Total Spend" in summary.unused


async def test_an_excel_sheet_in_windows_1252_with_semicolons(gql, tenant, tmp_path):
    source = tmp_path / "sales team.csv"
    rows = [
        "sep=;",
        "Full Name;E-mail Address;Mobile No;Company Name;TIN;Notes",
        "Chloé Adéyemi;chloe@example.ng;0803 123 4567;Adéyemi & Sons;12345678-0001;",
        "Tunde Bakare;tunde@example.ng;08031234567 / 08051234567;;;two numbers",
        "Musa Sani;musa@example.ng;2.34803E+12;;1234;sci notation, short tin",
        ";;;;;",  # Excel's empty row
    ]
    source.write_bytes("\r\n".join(rows).encode("cp1252") + b"\r\n")
    summary = await import_file(
        source,
        business_id=tenant.business_id,
        report=tmp_path / "r.csv",
        options=Options(maps=parse_maps(["Notes="])),
        show_progress=False,
    )
    assert any("Windows-1252" in note for note in summary.notes)
    assert summary.counts["created"] == 3 and summary.total == 3 and summary.unused == []
    problems = [r[3] for r in report_rows(tmp_path / "r.csv")]
    assert problems == ["", "phone:INVALID", "phone:INVALID;tin:INVALID"]
    customers = await stored(gql, tenant)
    chloe = customers["chloe@example.ng"]
    assert (chloe["name"], chloe["phone"], chloe["companyName"], chloe["tin"]) == (
        "Chloé Adéyemi",
        "+2348031234567",
        "Adéyemi & Sons",
        "12345678-0001",
    )
    assert customers["tunde@example.ng"]["phone"] is None
    assert customers["musa@example.ng"]["tin"] is None


async def test_strict_rejects_the_row_and_map_names_a_column(gql, tenant, tmp_path):
    source = tmp_path / "sheet.csv"
    source.write_text("Contact Email,Mobile No,Name\na@x.ng,123,A\nb@x.ng,08031234567,B\n")
    options = Options(maps=parse_maps(["Contact Email=email"]), strict=True)
    summary = await import_file(
        source,
        business_id=tenant.business_id,
        report=tmp_path / "r.csv",
        options=options,
        show_progress=False,
    )
    assert summary.counts["failed"] == 1 and summary.counts["created"] == 1
    assert [r[3] for r in report_rows(tmp_path / "r.csv")] == ["phone:INVALID", ""]
    assert (await stored(gql, tenant))["b@x.ng"]["phone"] == "+2348031234567"


async def test_reimport_fills_or_overwrites_with_updated_events(gql, tenant, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("email,name,phone\nada@fix.ng,,\nbola@fix.ng,Bola Ade,08031234567\n")
    options = {"business_id": tenant.business_id, "show_progress": False}
    await import_file(first, report=tmp_path / "1.csv", **options)
    corrected = tmp_path / "corrected.csv"
    corrected.write_text(
        "email,name,phone,company\n"
        "ADA@fix.ng,Ada Obi,08051234567,Obi Ltd\n"
        "bola@fix.ng,Bola Adeyemi,08061234567,\n"
    )
    found = await import_file(corrected, report=tmp_path / "2.csv", **options)
    assert found.counts["found"] == 2  # the default: find only
    fill = await import_file(
        corrected, report=tmp_path / "3.csv", options=Options(update=Update.FILL), **options
    )
    assert fill.counts == {"created": 0, "found": 1, "updated": 1, "failed": 0, "unreadable": 0}
    customers = await stored(gql, tenant)
    # Ada's name was the email's: empty for fill; Bola's name and phone stay.
    assert (customers["ada@fix.ng"]["name"], customers["ada@fix.ng"]["phone"]) == (
        "Ada Obi",
        "+2348051234567",
    )
    assert customers["ada@fix.ng"]["companyName"] == "Obi Ltd"
    assert (customers["bola@fix.ng"]["name"], customers["bola@fix.ng"]["phone"]) == (
        "Bola Ade",
        "+2348031234567",
    )
    overwrite = await import_file(
        corrected, report=tmp_path / "4.csv", options=Options(update=Update.OVERWRITE), **options
    )
    assert overwrite.counts["updated"] == 1 and overwrite.counts["found"] == 1  # Ada: no change
    bola = (await stored(gql, tenant))["bola@fix.ng"]
    assert (bola["name"], bola["phone"], bola["companyName"]) == (
        "Bola Adeyemi",
        "+2348061234567",
        None,
    )
    events = [(e["type"], e["changedFields"]) for e in await listed(gql, tenant)]
    assert events == [
        ("CREATED", []),
        ("CREATED", []),
        ("UPDATED", ["name", "phone", "companyName"]),
        ("UPDATED", ["name", "phone"]),
    ]


async def test_a_dry_run_writes_nothing(settings, app, tmp_path):
    tenant = await make_tenant("Dry run")
    source = write_shopify(tmp_path / "export.csv")
    result = await arun("import", "--business", tenant.business_id, str(source), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would import 7 record(s): 4 created, 1 found, 0 updated, 1 failed, 1 unreadable" in (
        result.stdout
    )
    assert "line 5: unreadable UNCLOSED_QUOTE" in result.stdout
    assert "line 9: failed email:BLANK" in result.stdout and "nothing was written" in result.stdout
    assert "ada.obi" not in result.stdout.lower() and "shop.ng" not in result.stdout
    assert await Customer.filter(business_id=tenant.business_id).count() == 0
    assert not await Job.filter(name__startswith=f"import:{tenant.business_id}:").exists()
    assert not Path(f"{source}.report.csv").exists()
    real = await arun("import", "--business", tenant.business_id, str(source))
    assert "imported 7 record(s): 4 created, 1 found, 0 updated, 1 failed, 1 unreadable" in (
        real.stdout
    )
    assert "warning: 1 record(s) kept with a value left out" in real.stdout


def _refused(path: Path, **options: object) -> str:
    with pytest.raises(ImportFileError) as refused:
        open_source(path, **options)  # type: ignore[arg-type]
    return str(refused.value)


def test_files_that_are_no_export_are_refused_before_anything(tmp_path):
    huge = tmp_path / "huge.csv"
    with huge.open("w") as handle:  # 8 MiB on one line: the reader stops after 1 MiB
        handle.write("email,name\n")
        handle.write("a" * (8 << 20))
    tracemalloc.start()
    message = _refused(huge)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "line 2" in message and "longer than 1 MiB" in message and peak < 6 << 20
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"email\n" + bytes(range(256)) * 16)
    assert "not a text file" in _refused(binary)
    workbook = tmp_path / "customers.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    assert "Save As > CSV UTF-8" in _refused(workbook)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"email": "a@x.ng"}, {"email": ')
    assert "element 2" in _refused(broken)
    no_email = tmp_path / "no-email.csv"
    no_email.write_text("Name,Phone\nAda,0803\n")
    assert "holds the emails" in _refused(no_email)
    assert "Ada" not in _refused(no_email)
    not_shopify = tmp_path / "plain.csv"
    not_shopify.write_text("email\na@x.ng\n")
    assert "not a shopify customer export" in _refused(not_shopify, format="shopify")
    undecodable = tmp_path / "latin.csv"
    undecodable.write_bytes("email,name\na@x.ng,Chloé\n".encode("cp1252"))
    assert "--encoding" in _refused(undecodable, encoding="utf-8")


def test_an_unclosed_quote_costs_one_record_only(tmp_path):
    source = tmp_path / "quotes.csv"
    lines = ["email,name,phone"]
    lines += [f"p{n}@q.ng,Person {n},0803123456{n}" for n in range(5)]
    lines[2] = 'p1@q.ng,"Person 1,08031234561'  # never closed
    lines.append('p9@q.ng,"Nine, ""the"" Ninth",08031234569')  # quoted well
    source.write_text("\n".join(lines) + "\n")
    items = list(open_source(source).items())
    assert [(i.line, i.problem) for i in items] == [
        (2, None),
        (3, "UNCLOSED_QUOTE"),
        (4, None),
        (5, None),
        (6, None),
        (7, None),
    ]
    assert items[-1].values is not None and items[-1].values["name"] == 'Nine, "the" Ninth'


def test_every_record_is_counted(tmp_path):
    """The summary's total is the file's records, each once, however it is awkward."""
    source = tmp_path / "mixed.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Email", "Note"])
        for n in range(50):
            writer.writerow([f"p{n}@c.ng", "two\nlines" if n % 7 == 0 else "one"])
    assert open_source(source).total == 50


def test_a_compact_json_array_longer_than_a_line_is_streamed(tmp_path):
    """GET /customers pages joined into one array: one line of megabytes, read element
    by element with bounded memory."""
    source = tmp_path / "all-pages.json"
    customers = [dict(WOO_CUSTOMERS[0], id=n, email=f"c{n}@big.ng") for n in range(3000)]
    source.write_text(json.dumps(customers, separators=(",", ":")))
    assert source.stat().st_size > 1 << 20  # more than a line may hold
    tracemalloc.start()
    opened = open_source(source)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert opened.total == 3000 and opened.platform == "woocommerce"
    assert peak < 1 << 20


async def test_cli_options_are_checked_in_one_line(settings, app, tmp_path):
    tenant = await make_tenant("Import options")
    source = tmp_path / "sheet.csv"
    source.write_text("Email,Mobile No\na@opt.ng,08031234567\n")
    for extra, words in (
        (["--map", "Mobile No=mobile"], "the field must be one of"),
        (["--map", "Fax=phone"], "names no column of the file: fax"),
        (["--format", "woocommerce"], "is not a woocommerce customer export"),
        (["--encoding", "klingon"], "unknown encoding"),
        (["--report", str(source)], "the report cannot be the file imported"),
    ):
        result = await arun("import", "--business", tenant.business_id, str(source), *extra)
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert await Customer.filter(business_id=tenant.business_id).count() == 0
    mapped = await arun(
        "import", "--business", tenant.business_id, str(source), "--map", "Mobile No=phone"
    )
    assert mapped.returncode == 0 and "1 created" in mapped.stdout, mapped.stderr
    customer = await Customer.get(business_id=tenant.business_id)
    await keyring.of(tenant.business_id)  # the values open under the business's data key
    assert customer.phone == "+2348031234567"


async def test_utf16_tab_text_and_json_lines_with_mapped_keys(gql, tenant, tmp_path):
    """Excel's "Unicode Text" (UTF-16 with a BOM, tabs), and flat JSON Lines whose
    objects do not all have the mapped key."""
    sheet = tmp_path / "unicode.txt"
    sheet.write_bytes(
        "Name\tEmail\tPhone Number\r\nÒlá Àlàbí\tola@u16.ng\t+234 803 123 4567\r\n".encode("utf-16")
    )
    flat = tmp_path / "flat.jsonl"
    flat.write_text(
        json.dumps({"Email": "one@u16.ng", "Cell No": "08031234567"})
        + "\n"
        + json.dumps({"Email": "two@u16.ng", "companyName": "Two Ltd"})
        + "\n"
    )
    options = {"business_id": tenant.business_id, "show_progress": False}
    await import_file(sheet, report=tmp_path / "1.csv", **options)
    mapped = Options(maps=parse_maps(["Cell No=phone"]))
    summary = await import_file(flat, report=tmp_path / "2.csv", options=mapped, **options)
    assert summary.counts["created"] == 2 and summary.unused == []
    customers = await stored(gql, tenant)
    assert (customers["ola@u16.ng"]["name"], customers["ola@u16.ng"]["phone"]) == (
        "Òlá Àlàbí",
        "+2348031234567",
    )
    assert customers["one@u16.ng"]["phone"] == "+2348031234567"
    assert customers["two@u16.ng"]["companyName"] == "Two Ltd"
