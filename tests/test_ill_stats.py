"""ILL statistics: a routed request counted once, fill rates, turnaround means and medians, per
month and period, from stored records and from a real exchange; `unishelf ill stats` as a table
and as CSV."""
from __future__ import annotations

from test_ill_ledger import made, parsed_csv, report, routed_and_forwarded, stored, table, write
from test_ill_scenarios import LOAN, R, S, WILL_SUPPLY, request, run_steps

from unishelf import cli_ill_reports
from unishelf.ill_iso.statistics import Period, Row, library_statistics
from unishelf.ill_iso.tables import REQUESTER, RESPONDER


def borrowed(number, peer, asked, received=None, state="RECEIVED", **facts):
    return made(number, REQUESTER, "NORTH", peer, number, state=state, date_requested=asked,
                received_date=received, shipped_service="loan" if received else None, **facts)


def lent(number, peer, asked, shipped=None, state="SHIPPED"):
    return made(number, RESPONDER, "NORTH", peer, number, state=state, date_requested=asked,
                shipped_date=shipped, shipped_service="loan" if shipped else None)


NORTH = [
    borrowed(1, "CENTRAL", "20240301", received="20240306"),                       # 5 days
    # one routed request: CENTRAL could not, EAST did not answer in time, SOUTH sent it
    borrowed(2, "CENTRAL", "20240302", state="NOT-SUPPLIED", attempt=1, forwarded_to=3),
    borrowed(3, "EAST", "20240303", state="CANCELLED", attempt=2, forwarded_from=2, forwarded_to=4),
    borrowed(4, "SOUTH", "20240306", received="20240310", attempt=3, forwarded_from=3),   # 8 days
    borrowed(5, "CENTRAL", "20240320", state="NOT-SUPPLIED"),
    borrowed(6, "CENTRAL", "20240402", state="CANCELLED"),
    borrowed(7, "CENTRAL", "20240403", state="PENDING"),
    borrowed(8, "EAST", "20240401", received="20240402"),                          # 1 day
    lent(9, "CENTRAL", "20240304", shipped="20240306"),                             # 2 days
    lent(10, "EAST", "20240305", shipped="20240312"),                               # 7 days
    lent(11, "CENTRAL", "20240306", state="NOT-SUPPLIED"),
    lent(12, "CENTRAL", "20240307", state="FORWARD"),
    lent(13, "EAST", "20240314", shipped="20240315"),                               # 1 day
]


def test_a_row_per_library_and_role_a_routed_request_once():
    assert library_statistics(NORTH) == [
        Row("NORTH", "all", REQUESTER, 6, 3, 1, 1, 2, 0.5, 14 / 3, 5.0),
        Row("NORTH", "all", RESPONDER, 5, 3, 1, 0, 1, 0.6, 10 / 3, 2.0)]


def test_by_month_and_within_a_period():
    assert library_statistics(NORTH, by_month=True) == [
        Row("NORTH", "2024-03", REQUESTER, 3, 2, 1, 0, 2, 2 / 3, 6.5, 6.5),
        Row("NORTH", "2024-03", RESPONDER, 5, 3, 1, 0, 1, 0.6, 10 / 3, 2.0),
        Row("NORTH", "2024-04", REQUESTER, 3, 1, 0, 1, 0, 1 / 3, 1.0, 1.0)]
    assert library_statistics(NORTH, Period("20240305", "20240331")) == [
        Row("NORTH", "20240305..20240331", REQUESTER, 1, 0, 1, 0, 0, 0.0, None, None),
        Row("NORTH", "20240305..20240331", RESPONDER, 4, 2, 1, 0, 1, 0.5, 4.0, 4.0)]
    assert [row.period for row in library_statistics(NORTH, Period(since="20240401"))] == ["20240401.."]


def test_a_real_exchange_as_each_end_counts_it(network):
    reference = run_steps(network, "NORTH", "CENTRAL", [request(), WILL_SUPPLY])
    network.clock.advance(days=2)
    run_steps(network, "NORTH", "CENTRAL", [(S, "ship", {}, ("SHIPPED", "SHIPPED"))], reference)
    network.clock.advance(days=3)
    run_steps(network, "NORTH", "CENTRAL", [(R, "receive", {}, ("RECEIVED", "RECEIVED"))], reference)
    run_steps(network, "NORTH", "CENTRAL", [request({**LOAN, "item": {"title": "Not here"}}),
                                            (S, "answer", {"kind": "unfilled"}, ("NOT-SUPPLIED", "NOT-SUPPLIED"))])
    assert library_statistics(stored(network.nodes["NORTH"].store), by_month=True) == [
        Row("NORTH", "2024-03", REQUESTER, 2, 1, 1, 0, 0, 0.5, 5.0, 5.0)]
    assert library_statistics(stored(network.nodes["CENTRAL"].store), by_month=True) == [
        Row("CENTRAL", "2024-03", RESPONDER, 2, 1, 1, 0, 0, 0.5, 2.0, 2.0)]


def test_a_routed_and_forwarded_request_at_every_library_it_touched(routing):
    routed_and_forwarded(routing)
    seen = {code: library_statistics(stored(store)) for code, store in routing.stores.items()}
    assert seen["NORTH"] == [Row("NORTH", "all", REQUESTER, 1, 1, 0, 0, 1, 1.0, 5.0, 5.0)]
    assert seen["SOUTH"] == [Row("SOUTH", "all", RESPONDER, 1, 0, 1, 0, 0, 0.0, None, None)]
    assert seen["CENTRAL"] == [Row("CENTRAL", "all", RESPONDER, 1, 0, 0, 0, 1, 0.0, None, None)]
    assert seen["WEST"] == [Row("WEST", "all", RESPONDER, 1, 1, 0, 0, 0, 1.0, 2.0, 2.0)]
    assert seen["EAST"] == []


def test_stats_as_a_table_and_as_csv_say_the_same(desk):
    write(desk, NORTH)
    code, out, err = report(desk, "stats", "--by", "month")
    assert (code, err) == (0, "")
    assert out == (
        "library  period   role       requests  filled  unfilled  cancelled  forwarded  fill_pct  mean_days  median_days\n"
        "NORTH    2024-03  requester         3       2         1          0          2      66.7        6.5          6.5\n"
        "NORTH    2024-03  responder         5       3         1          0          1      60.0        3.3          2.0\n"
        "NORTH    2024-04  requester         3       1         0          1          0      33.3        1.0          1.0\n")
    _, as_csv, _ = report(desk, "stats", "--by", "month", "--csv")
    assert [[row[column] for column in cli_ill_reports.STATS_COLUMNS] for row in parsed_csv(as_csv)] == table(out)[1:]


def test_stats_for_one_library_and_a_period(desk):
    write(desk, NORTH)
    _, out, _ = report(desk, "stats", "--from", "2024-04-01", "--csv")
    (row,) = parsed_csv(out)
    assert (row["period"], row["role"], row["requests"], row["fill_pct"], row["mean_days"]) == (
        "20240401..", "requester", "3", "33.3", "1.0")
    _, out, _ = report(desk, "stats", "--library", "CENTRAL")
    assert table(out)[1:] == [["(none)"]]
    code, _, err = report(desk, "stats", "--until", "April")
    assert code == 1 and err == "unishelf ill stats: the --until date 'April' is not a date like 2024-03-15\n"
