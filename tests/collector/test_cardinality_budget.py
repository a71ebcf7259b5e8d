"""The cardinality budget (issue #19 item 5): at most N distinct values per slice dimension in
the rollups and on /metrics, the rest folded into `__other__`; the admitted set is the same after
a restart and across replicas; grouped answers are capped and say `X-Truncated: true`. Both
engines, real ingest, real database."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from asrwatch.server import create_app
from asrwatch.settings import Settings
from collector.store import configure_dimension_budget, make_engine, migrate, queries
from collector.store.dimension_budget import OTHER, budget_of
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store.models import DimensionValue, Rollup, Session
from collector.store.schemas import SampleIn, SessionIn

AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
SINCE, UNTIL = AT - timedelta(hours=1), AT + timedelta(hours=1)


def _session(sid: str, **fields) -> SessionIn:
    return SessionIn.model_validate({"session_id": sid, "ts": AT.isoformat(), "model_version": "m1",
                                     "status": "ok", "hypothesis": "turn on the lights", **fields})


def _rollup_sessions(engine, dim: str) -> dict[str, int]:
    table = Rollup.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(table.c[dim], func.sum(table.c.sessions)).group_by(table.c[dim])).all()
    return {value: int(n) for value, n in rows}


def _admitted(engine, dim: str) -> set[str]:
    table = DimensionValue.__table__
    with engine.connect() as conn:
        return set(conn.execute(select(table.c.value).where(table.c.dimension == dim)).scalars())


def test_rollups_fold_values_past_the_budget_and_keep_them_across_a_restart(database_url, caplog):
    engine = make_engine(database_url)
    migrate(engine)
    budget = configure_dimension_budget(engine, 5, {"tenant": {"vip"}})
    with caplog.at_level(logging.WARNING, logger="asrwatch.cardinality"):
        # 40 sessions, each with its own region and tenant, in two batches (a budget decided per batch).
        for start in (0, 20):
            store_sessions(engine, [_session(f"s{i}", region=f"r{i:02d}", tenant=f"t{i:02d}")
                                    for i in range(start, start + 20)], AT)
        store_sessions(engine, [_session("vip-1", region="r00", tenant="vip")], AT)
    regions = _rollup_sessions(engine, "region")
    assert regions == {**{f"r{i:02d}": 1 for i in range(5)}, "r00": 2, OTHER: 35}
    tenants = _rollup_sessions(engine, "tenant")
    assert tenants == {**{f"t{i:02d}": 1 for i in range(5)}, "vip": 1, OTHER: 35}  # pinned: never folded
    assert _admitted(engine, "region") == {f"r{i:02d}" for i in range(5)}
    assert budget.folded_sessions == {"region": 35, "tenant": 35}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(w.split()[2] for w in warnings) == ["region", "tenant"]  # one line per dimension
    assert all("r3" not in w and "t3" not in w for w in warnings)  # names the dimension, not its values

    # A label sample of a folded session lands in the __other__ slice too.
    score_and_store_samples(engine, [(0, SampleIn(session_id="s30", reference="turn on the light"))], "basic", AT)
    wer = {row["region"]: row for row in queries.wer_by_group(engine, ["region"], SINCE, UNTIL, {})}
    assert wer[OTHER]["utterances"] == 1 and wer[OTHER]["wer"] == pytest.approx(0.25)

    # A restart (a new engine, a fresh process-side budget): the stored set decides, not arrival order.
    engine.dispose()
    again = make_engine(database_url)
    configure_dimension_budget(again, 5)
    store_sessions(again, [_session("new-1", region="brand-new"), _session("old-1", region="r03")], AT)
    regions = _rollup_sessions(again, "region")
    assert regions["r03"] == 2 and regions[OTHER] == 36 and "brand-new" not in regions
    assert budget_of(again).kept("region", "r03") is True and budget_of(again).kept("region", "brand-new") is False
    again.dispose()


@pytest.mark.postgres
def test_two_replicas_never_admit_more_than_the_budget(postgres_url):
    """Two engines (two replicas' pools) ingest 300 new values each at once: exactly the budget
    is admitted, and every session is in its own slice or __other__, none lost."""
    engines = [make_engine(postgres_url) for _ in range(2)]
    migrate(engines[0])
    for engine in engines:
        configure_dimension_budget(engine, 50)
    errors: list[BaseException] = []

    def send(replica: int) -> None:
        try:
            for batch in range(10):
                store_sessions(engines[replica], [_session(f"{replica}-{batch}-{i}", region=f"x{replica}-{batch}-{i}")
                                                  for i in range(30)], AT)
        except BaseException as exc:  # noqa: BLE001 - re-raised below on the test thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(_admitted(engines[0], "region")) == 50
    regions = _rollup_sessions(engines[0], "region")
    assert len(regions) == 51 and sum(regions.values()) == 600
    assert sum(budget_of(e).folded_sessions["region"] for e in engines) == 550
    for engine in engines:
        engine.dispose()


def _metric_series(text: str) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s.labels)
    return out


def test_ten_thousand_label_values_keep_metrics_and_rollups_bounded(database_url, caplog):
    settings = Settings(database_url=database_url, evaluator_enabled=False, metrics_label_values_max=1000,
                        slos=[{"name": "t", "sli": "availability", "objective": 99.5, "group_by": ["tenant"]}])
    with TestClient(create_app(settings, run_background=False)) as client, caplog.at_level(logging.WARNING):
        for start in range(0, 10_000, 1000):
            records = [{"session_id": f"c{i}", "ts": AT.isoformat(), "model_version": "m1", "status": "ok",
                        "region": f"region-{i}", "tenant": f"tenant-{i}", "channel": "web"}
                       for i in range(start, start + 1000)]
            assert client.post("/api/v1/sessions", json=records).json()["accepted"] == 1000
        text = client.get("/metrics").text
        status = client.get("/api/v1/status", params={"group_by": "region", "since": SINCE.isoformat(),
                                                      "until": UNTIL.isoformat(), "limit": 100})
        whole = client.get("/api/v1/status", params={"group_by": "model_version", "since": SINCE.isoformat(),
                                                     "until": UNTIL.isoformat()})
        capped = client.get("/api/v1/wer", params={"group_by": "region", "limit": 10001})
    series = _metric_series(text)
    totals = [labels for labels in series["asrwatch_sessions_total"] if labels["status"] == "ok"]
    for dim in ("region", "tenant"):
        values = {labels[dim] for labels in totals}
        assert len(values) <= 1000 + 1 and OTHER in values, dim
    label_sets = {tuple(sorted(labels.items())) for labels in totals}
    assert len(label_sets) == 1001  # was one per session: 10,000 label sets, 22.6 MB
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "dimension" in r.getMessage()]
    assert sorted(w.split()[2] for w in warnings) == ["region", "tenant"]  # one line per dimension, not per session
    folded = {labels["dimension"]: value for labels, value in
              ((s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "asrwatch_folded_sessions_total")}
    assert folded == {"region": 9000.0, "tenant": 9000.0}

    assert status.status_code == 200 and len(status.json()) == 100
    assert status.headers["X-Truncated"] == "true" and status.headers["X-Total-Groups"] == "1001"
    assert "offset=100" in status.headers["Link"]
    assert whole.headers["X-Truncated"] == "false" and whole.json()[0]["sessions"] == 10_000
    assert capped.status_code == 422 and "limit" in str(capped.json()["detail"])

    engine = make_engine(database_url)
    assert len(_rollup_sessions(engine, "region")) == 1001 and _rollup_sessions(engine, "region")[OTHER] == 9000
    engine.dispose()


def test_grouped_queries_page_through_every_group(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    configure_dimension_budget(engine, 1000)
    store_sessions(engine, [_session(f"p{i}", region=f"r{i:02d}", gpu_seconds=1.0) for i in range(25)], AT)
    for fn, args in ((queries.status_by_group, ()), (queries.latency_by_group, ()), (queries.wer_by_group, ()),
                     (queries.cost_by_group, (lambda pool: 2.5,))):
        pages, offset = [], 0
        while True:
            page = fn(engine, ["region"], SINCE, UNTIL, {}, *args, limit=10, offset=offset)
            pages.append(page)
            if not page.truncated:
                break
            offset += 10
        rows = [row for page in pages for row in page]
        expected = 25 if fn is not queries.wer_by_group else 0  # no labeled samples: no WER groups
        assert [p.total for p in pages] == [expected] * len(pages), fn.__name__
        assert [r["region"] for r in rows] == [f"r{i:02d}" for i in range(expected)], fn.__name__
        assert fn(engine, ["region"], SINCE, UNTIL, {}, *args) == rows  # no limit: every group, as before
    engine.dispose()


def test_late_sessions_past_the_budget_fold_in_compacted_hours_and_a_sent_other_merges(database_url):
    """Late data (an hour compacted already) goes to the hourly rows folded as well; a sender's
    own `__other__` value and the folded ones are one slice."""
    from collector.store.compaction import compact
    from collector.store.models import HourlyRollup

    engine = make_engine(database_url)
    migrate(engine)
    configure_dimension_budget(engine, 2)
    store_sessions(engine, [_session("a", region="r1"), _session("b", region="r2")], AT)
    compact(engine, AT + timedelta(hours=3))
    store_sessions(engine, [_session("c", region="r3"), _session("d", region=OTHER), _session("e", region="r1")], AT)
    assert _rollup_sessions(engine, "region") == {"r1": 2, "r2": 1, OTHER: 2}
    table = HourlyRollup.__table__
    with engine.connect() as conn:
        hourly = dict(conn.execute(select(table.c.region, func.sum(table.c.sessions)).group_by(table.c.region)).all())
    assert {k: int(v) for k, v in hourly.items()} == {"r1": 2, "r2": 1, OTHER: 2}
    assert budget_of(engine).folded_sessions == {"region": 1}  # the sender's own __other__ was not folded
    engine.dispose()


def _fail_commits_with_region(engine, region: str) -> None:
    """A real constraint checked only at COMMIT: a transaction storing a session of `region`
    fails to commit (the statements themselves all succeed). SQLite: a trigger inserts a row that
    breaks a DEFERRABLE INITIALLY DEFERRED foreign key; PostgreSQL: a deferred constraint trigger."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("CREATE TABLE doom_parent (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("CREATE TABLE doom (parent INTEGER REFERENCES doom_parent (id) "
                                 "DEFERRABLE INITIALLY DEFERRED)")
            conn.exec_driver_sql(f"CREATE TRIGGER doom_insert AFTER INSERT ON sessions WHEN NEW.region = '{region}' "
                                 "BEGIN INSERT INTO doom VALUES (1); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION doom() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'doomed at commit'; END $$")
            conn.exec_driver_sql(f"CREATE CONSTRAINT TRIGGER doom AFTER INSERT ON sessions DEFERRABLE INITIALLY "
                                 f"DEFERRED FOR EACH ROW WHEN (NEW.region = '{region}') EXECUTE FUNCTION doom()")


def _drop_commit_failure(engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER doom_insert" if engine.dialect.name == "sqlite" else "DROP TRIGGER doom ON sessions")


def test_a_failed_commit_caches_nothing_and_counts_nothing(database_url):
    """SQLAlchemy's `commit` event fires before the DBAPI commit: decisions applied there would
    survive a commit that fails. Here the commit fails for real: nothing is cached as admitted,
    the dimension is not taken as full, and the folded counter does not move."""
    engine = make_engine(database_url)
    migrate(engine)
    budget = configure_dimension_budget(engine, 2)
    store_sessions(engine, [_session("a", region="r1")], AT)
    _fail_commits_with_region(engine, "r2")
    with pytest.raises(DBAPIError):  # r2 admitted (the last room), r3 and r4 folded: then the commit fails
        store_sessions(engine, [_session("x2", region="r2"), _session("x3", region="r3"),
                                _session("x4", region="r4")], AT)
    assert _admitted(engine, "region") == {"r1"}
    assert budget.kept("region", "r2") is None and budget.kept("region", "r3") is None  # undecided, not admitted/full
    assert budget.folded_sessions == {}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Session.__table__)).scalar() == 1

    _drop_commit_failure(engine)
    store_sessions(engine, [_session("y3", region="r3"), _session("y4", region="r4")], AT)
    assert _admitted(engine, "region") == {"r1", "r3"}  # the room r2 did not keep went to r3
    assert budget.kept("region", "r3") is True and budget.kept("region", "r2") is False
    assert budget.folded_sessions == {"region": 1}
    assert _rollup_sessions(engine, "region") == {"r1": 1, "r3": 1, OTHER: 1}
    engine.dispose()


def test_active_rollout_versions_never_fold(database_url):
    """A registered rollout's baseline and canary keep their own model_version slices in a full
    dimension (read from the rollouts table, so a rollout registered by any replica counts);
    other new versions still fold, and a rolled-back rollout's canary folds again."""
    from slo.rollout.service import RolloutSpec, register

    engine = make_engine(database_url)
    migrate(engine)
    budget = configure_dimension_budget(engine, 2)
    store_sessions(engine, [_session("a", model_version="m1"), _session("b", model_version="m2"),
                            _session("c", model_version="m3")], AT)
    assert _rollup_sessions(engine, "model_version") == {"m1": 1, "m2": 1, OTHER: 1}
    register(engine, RolloutSpec(name="canary", baseline_version="m-base", canary_version="m-canary"),
             actor="test", at=AT)
    store_sessions(engine, [_session("d", model_version="m-canary"), _session("e", model_version="m-base"),
                            _session("f", model_version="m4")], AT)
    assert _rollup_sessions(engine, "model_version") == {"m1": 1, "m2": 1, "m-base": 1, "m-canary": 1, OTHER: 2}
    assert budget.kept("model_version", "m-canary") is True and budget.kept("model_version", "m4") is False
    assert budget.folded_sessions == {"model_version": 2}
    assert _admitted(engine, "model_version") == {"m1", "m2"}  # kept, not counted against the budget

    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE rollouts SET state = 'rolled_back'")
    store_sessions(engine, [_session("g", model_version="m-canary")], AT)
    assert _rollup_sessions(engine, "model_version")[OTHER] == 3
    engine.dispose()


def test_a_rollouts_protected_slices_never_fold(database_url):
    """The values an active rollout's `protected_slices` name keep their own rollups in a full
    dimension, a configured one too (its judge reads them there); other new values still fold,
    nothing is counted against the budget, and once the rollout ends they fold again."""
    from collector.store import configure_dimensions, dimensions_of
    from slo.rollout.service import parse_spec, register

    engine = make_engine(database_url)
    migrate(engine)
    configure_dimensions(engine, ["accent"])
    slot = dimensions_of(engine).column("accent")
    budget = configure_dimension_budget(engine, 1)
    store_sessions(engine, [_session("a", region="r1", attributes={"accent": "a1"}),
                            _session("b", region="r2", attributes={"accent": "a2"})], AT)
    assert _rollup_sessions(engine, "region") == {"r1": 1, OTHER: 1}
    assert _rollup_sessions(engine, slot) == {"a1": 1, OTHER: 1}
    spec = parse_spec({"name": "protected", "baseline_version": "m1", "canary_version": "m2",
                       "slice_by": ["region", "accent"],
                       "protected_slices": [{"region": "eu-far"}, {"accent": "scottish"}]}, dimensions_of(engine))
    register(engine, spec, actor="test", at=AT)
    store_sessions(engine, [_session("c", region="eu-far", attributes={"accent": "scottish"}),
                            _session("d", region="r3", attributes={"accent": "welsh"})], AT)
    assert _rollup_sessions(engine, "region") == {"r1": 1, "eu-far": 1, OTHER: 2}
    assert _rollup_sessions(engine, slot) == {"a1": 1, "scottish": 1, OTHER: 2}
    assert budget.kept("region", "eu-far") is True and budget.kept(slot, "scottish") is True
    assert budget.kept("region", "r3") is False
    assert _admitted(engine, "region") == {"r1"} and _admitted(engine, slot) == {"a1"}

    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE rollouts SET state = 'rolled_back'")
    store_sessions(engine, [_session("e", region="eu-far", attributes={"accent": "scottish"})], AT)
    assert _rollup_sessions(engine, "region")[OTHER] == 3 and _rollup_sessions(engine, slot)[OTHER] == 3
    engine.dispose()


def test_a_hand_edited_protected_slices_row_never_fails_ingest(database_url):
    """The API validates `protected_slices`; a row edited by hand into another shape is read for
    what selectors it still holds, and ingest goes on."""
    from collector.store import dimensions_of
    from slo.rollout.service import parse_spec, register

    engine = make_engine(database_url)
    migrate(engine)
    configure_dimension_budget(engine, 1)
    store_sessions(engine, [_session("a", region="r1"), _session("b", region="r2")], AT)
    register(engine, parse_spec({"name": "edited", "baseline_version": "m1", "canary_version": "m2",
                                 "slice_by": ["region"]}, dimensions_of(engine)), actor="test", at=AT)
    with engine.begin() as conn:
        conn.exec_driver_sql("""UPDATE rollouts SET protected_slices = '[1, "x", {"region": "eu-far"}]'""")
    store_sessions(engine, [_session("c", region="eu-far"), _session("d", region="r3")], AT)
    with engine.begin() as conn:
        conn.exec_driver_sql("""UPDATE rollouts SET protected_slices = '"not a list"'""")
    store_sessions(engine, [_session("e", region="r4")], AT)
    assert _rollup_sessions(engine, "region") == {"r1": 1, "eu-far": 1, OTHER: 3}
    engine.dispose()


def test_a_flood_into_a_full_dimension_takes_no_lock_and_caches_no_refused_value(database_url):
    """Once a dimension is full in committed rows its admitted set is loaded once; after that a
    batch of new values folds with no query on dimension_values, no advisory lock, and nothing
    remembered per refused value."""
    from sqlalchemy import event

    engine = make_engine(database_url)
    migrate(engine)
    budget = configure_dimension_budget(engine, 3)
    store_sessions(engine, [_session(f"a{i}", region=f"r{i}") for i in range(5)], AT)  # fills region
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda c, cur, sql, *a: statements.append(sql))
    for batch in range(3):
        store_sessions(engine, [_session(f"f{batch}-{i}", region=f"flood-{batch}-{i}") for i in range(200)], AT)
    assert not [s for s in statements if "dimension_values" in s or "advisory" in s]
    assert budget.kept("region", "flood-0-0") is False and budget.kept("region", "never-seen") is False
    assert budget._admitted["region"] == {"r0", "r1", "r2"}  # the admitted set only: no refused values kept
    assert budget.folded_sessions == {"region": 602}
    assert _rollup_sessions(engine, "region") == {"r0": 1, "r1": 1, "r2": 1, OTHER: 602}
    engine.dispose()
