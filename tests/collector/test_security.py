"""Security: hashed tokens, constant-time checks, rate limits, CORS, audit of admin actions and
transcript reads, no secrets or transcripts in logs, PII redaction on realistic strings."""

import contextlib
import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from live_collector import running_collector
from typer.testing import CliRunner

from asrwatch.cli import app as cli_app
from asrwatch.settings import hash_token, load_settings
from collector.api import auth as auth_mod
from collector.api.rate_limit import Bucket, Limit, RateLimiter, retry_after, take
from collector.measures.redaction import redact
from collector.store import audit

# ---------------------------------------------------------------------------------------------
# Tokens: hashes in the config file, plain only from env or secret files


def _flat(text: str) -> str:
    """CLI errors come boxed and wrapped by rich; compare on the words."""
    return " ".join(text.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


def test_config_file_refuses_a_plain_token_and_names_the_key(tmp_path):
    secret = "plain-" + secrets.token_hex(8)
    path = tmp_path / "asrwatch.yaml"
    path.write_text(yaml.safe_dump({"auth": {"ingest": [hash_token("ok")], "read": [hash_token("x"), secret]}}))
    with pytest.raises(ValueError) as caught:
        load_settings(path)
    assert "auth.read[1]" in str(caught.value) and "ASRWATCH_AUTH__READ" in str(caught.value)
    assert secret not in str(caught.value)
    # `asrwatch serve` stops before binding, with the same message and no traceback.
    result = CliRunner().invoke(cli_app, ["serve", "--config", str(path), "--port", "1"])
    assert result.exit_code == 2
    assert "auth.read[1] is a plain token" in _flat(result.output) and secret not in result.output


def test_tokens_from_file_env_and_secret_files_are_held_only_as_hashes(tmp_path, monkeypatch):
    ingest_a, ingest_b, read, admin = (f"{n}-{secrets.token_hex(8)}" for n in ("ia", "ib", "r", "a"))
    secret_file = tmp_path / "admin-token"
    secret_file.write_text(f"# mounted by the orchestrator\n{admin}\n\n{hash_token('rotated-out-soon')}\n")
    path = tmp_path / "asrwatch.yaml"
    path.write_text(yaml.safe_dump({"auth": {"read": [hash_token(read).upper().replace("SHA256", "sha256")],
                                             "admin_file": str(secret_file)}}))
    monkeypatch.setenv("ASRWATCH_AUTH__INGEST", f"{ingest_a},{ingest_b}")  # a bare env value, no JSON
    settings = load_settings(path)
    dumped = settings.model_dump_json()
    for plain in (ingest_a, ingest_b, read, admin):
        assert plain not in dumped
    assert settings.auth.ingest == [hash_token(ingest_a), hash_token(ingest_b)]
    assert settings.auth.admin == [hash_token(admin), hash_token("rotated-out-soon")]
    assert auth_mod.token_scopes(ingest_b, settings.auth) == {"ingest"}
    assert auth_mod.token_scopes(read, settings.auth) == {"read"}
    assert auth_mod.token_scopes(admin, settings.auth) == {"admin"}
    assert auth_mod.token_scopes(hash_token(admin), settings.auth) == set()  # the hash is not a token
    assert auth_mod.token_scopes("rotated-out-soon", settings.auth) == {"admin"}


def test_bad_token_settings_name_the_key_and_never_echo_a_token(tmp_path):
    plain = "plain-" + secrets.token_hex(8)
    with pytest.raises(ValueError) as missing:
        load_settings(None, auth={"ingest": [plain], "read_file": str(tmp_path / "absent")})
    assert "auth.read_file" in str(missing.value) and plain not in str(missing.value)
    with pytest.raises(ValueError) as short:
        load_settings(None, auth={"ingest": [plain], "admin": ["sha256:abc123"]})
    assert "auth.admin[0]" in str(short.value) and plain not in str(short.value)


def test_every_configured_hash_is_compared_whichever_matches(monkeypatch):
    tokens = [f"t{i}-{secrets.token_hex(4)}" for i in range(6)]
    settings = load_settings(None, auth={"ingest": tokens[:2], "read": tokens[2:4], "admin": tokens[4:]})
    calls = []
    real = auth_mod.hmac.compare_digest
    monkeypatch.setattr(auth_mod.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    for presented in [tokens[0], tokens[5], "nope"]:
        calls.clear()
        auth_mod.token_scopes(presented, settings.auth)
        assert len(calls) == len(tokens)  # no early exit: the first match costs what a miss costs


def test_token_hash_command_reads_stdin():
    token = secrets.token_urlsafe(24)
    result = CliRunner().invoke(cli_app, ["token", "hash"], input=token + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    assert CliRunner().invoke(cli_app, ["token", "hash"], input="").exit_code != 0
    made = CliRunner().invoke(cli_app, ["token", "new"])
    fields = dict(line.split(":", 1) for line in made.stdout.splitlines())
    assert hash_token(fields["token"].strip()) == fields["hash"].strip()


# ---------------------------------------------------------------------------------------------
# Token bucket math

limits = st.builds(Limit, rate=st.floats(0.01, 1000), burst=st.floats(1, 500))


@given(limit=limits, gaps=st.lists(st.floats(0, 10), min_size=1, max_size=200))
@hsettings(max_examples=200, deadline=None)
def test_never_more_than_burst_plus_rate_times_elapsed(limit, gaps):
    bucket, now, allowed = None, 0.0, 0
    for gap in gaps:
        now += gap
        bucket, wait = take(bucket, limit, now)
        allowed += wait == 0
        assert 0 <= bucket.level <= limit.burst
        assert wait >= 0
    assert allowed <= limit.burst + limit.rate * now + 1e-6


@given(limit=limits, n=st.integers(1, 100))
@hsettings(max_examples=100, deadline=None)
def test_requests_at_the_rate_are_never_refused(limit, n):
    bucket = None
    for i in range(n):
        bucket, wait = take(bucket, limit, i / limit.rate)
        assert wait == 0


@given(limit=limits, burst_used=st.integers(1, 50), early=st.floats(0.0, 0.99))
@hsettings(max_examples=200, deadline=None)
def test_the_advertised_wait_is_exact(limit, burst_used, early):
    bucket, now, wait = None, 0.0, 0.0
    for _ in range(int(limit.burst) + burst_used):
        bucket, wait = take(bucket, limit, now)
    assert wait > 0  # more requests than the burst at one instant
    if early * wait * limit.rate < 1 - bucket.level - 1e-6:
        assert take(bucket, limit, now + early * wait)[1] > 0
    assert take(bucket, limit, now + wait)[1] == 0


def test_bucket_examples_and_a_clock_that_steps_back():
    limit = Limit(rate=2.0, burst=3.0)
    bucket, waits = None, []
    for _ in range(4):
        bucket, wait = take(bucket, limit, 100.0)
        waits.append(wait)
    assert waits == [0, 0, 0, 0.5]
    stepped, wait = take(Bucket(level=0.0, at=100.0), limit, 40.0)  # NTP steps back a minute
    assert stepped.level == 0.0 and wait == 0.5
    assert [retry_after(w) for w in (0.01, 1.0, 2.01)] == ["1", "1", "3"]


def test_limiter_keeps_a_bucket_per_token_and_scope():
    now = [0.0]
    limiter = RateLimiter({"read": Limit(1.0, 1.0)}, clock=lambda: now[0])
    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    assert limiter.acquire("read", a) == 0 and limiter.acquire("read", a) == 1.0
    assert limiter.acquire("read", b) == 0  # another token has its own bucket
    assert all(limiter.acquire("ingest", a) == 0 for _ in range(20))  # no limit set for ingest
    now[0] = 1.0
    assert limiter.acquire("read", a) == 0


# ---------------------------------------------------------------------------------------------
# Audit rows for transcript reads (pure part)


def test_only_responses_with_text_make_an_audit_row():
    rows = [{"session_id": "a", "hypothesis": None, "samples": [{"reference": None, "hypothesis": None}]},
            {"session_id": "b", "hypothesis": "hello"},
            {"session_id": "c", "hypothesis": None, "samples": [{"reference": "hi", "hypothesis": None}]}]
    assert audit.sessions_with_text(rows) == ["b", "c"]
    at = datetime(2026, 11, 21, tzinfo=timezone.utc)
    assert audit.transcript_read_entry(at, "read", "abc", "GET x", []) is None
    entry = audit.transcript_read_entry(at, "read", "abc", "GET x", ["b", "c"])
    assert (entry.actor, entry.action, entry.target) == ("api:read", "transcript.read", "2 sessions")
    assert entry.evidence == {"token": "abc", "endpoint": "GET x", "session_ids": ["b", "c"]}


# ---------------------------------------------------------------------------------------------
# PII redaction on strings as ASR systems and agents actually produce them


@pytest.mark.parametrize("text, leaked, placeholder", [
    ("call me at (415) 555-0199 or +44 20 7946 0958", "0199", "[PHONE]"),
    ("call me at (415) 555-0199 or +44 20 7946 0958", "7946", "[PHONE]"),
    ("card 4111 1111 1111 1111 exp 12/27", "1111", "[CARD]"),
    ("amex 3782 822463 10005 thanks", "822463", "[CARD]"),
    ("mail jane.doe+asr@example.co.uk", "jane.doe", "[EMAIL]"),
    ("my email is JOHN_SMITH@Mail.Example.com ok", "SMITH", "[EMAIL]"),
    ("yeah dial 4155550199 and ask for sam", "4155550199", "[PHONE]"),
    ("call me at 555-0199.", "0199", "[PHONE]"),
    ("my social is 123-45-6789", "6789", "[SSN]"),
    ("my cell is 07700 900123", "900123", "[PHONE]"),
    ("it's four one five, five five five, zero one nine nine", "zero one nine nine", "[PHONE]"),
])
def test_realistic_pii_is_redacted(text, leaked, placeholder):
    out = redact(text)
    assert leaked not in out and placeholder in out


@pytest.mark.parametrize("text", [
    "order 1234567890 shipped",  # ten digits but not a North American phone shape
    "the total is 123.4567 dollars",
    "version 2.14.1 rolled out on 2026-11-21",
    "the 2019-2020 season",
    "ticket 123-4567-89 is closed",
    "meet at 10 30 in room 4 with 12 people",
])
def test_ordinary_numbers_survive_redaction(text):
    assert redact(text) == text


# ---------------------------------------------------------------------------------------------
# A live collector (uvicorn subprocess): audit, console refusal, CORS closed, logs


LIMITED_CONFIG = {"evaluator_interval_s": 3600, "cors_origins": ["https://console.example"],
                  "rate_limits": {"read": {"rate": 0.05, "burst": 2}}}


@pytest.fixture(scope="module")
def collectors(tmp_path_factory):
    """Two collectors started side by side: defaults (CORS closed, no limits) and `LIMITED_CONFIG`."""
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        started = [pool.submit(stack.enter_context, running_collector(tmp_path_factory.mktemp(name), config))
                   for name, config in (("security", {"evaluator_interval_s": 3600}),
                                        ("security-limited", LIMITED_CONFIG))]
        yield [f.result() for f in started]


@pytest.fixture(scope="module")
def live(collectors):
    return collectors[0]


@pytest.fixture(scope="module")
def limited(collectors):
    return collectors[1]


def _session(sid, hypothesis=None, minutes_ago=5, **extra):
    ts = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    record = {"session_id": sid, "ts": ts.isoformat(), "model_version": "sec-v1", "status": "ok",
              "channel": "web", "final_latency_ms": 300.0}
    if hypothesis is not None:
        record["hypothesis"] = hypothesis
    return {**record, **extra}


def _audit(client, action):
    r = client.get("/api/v1/audit", params={"action": action, "limit": 5000})
    assert r.status_code == 200, r.text
    return r.json()


def test_transcript_reads_are_audited_without_the_text(live):
    uid = secrets.token_hex(4)
    words = "periwinkle quagmire"
    with live.client("ingest") as ingest:
        r = ingest.post("/api/v1/sessions", json=[_session(f"{uid}-text", f"{words} please"),
                                                  _session(f"{uid}-bare")])
        assert r.json()["accepted"] == 2, r.text
        r = ingest.post("/api/v1/samples", json=[{"session_id": f"{uid}-bare", "reference": "just a reference",
                                                  "hypothesis": "just a guess", "source": "human"}])
        assert r.status_code == 200, r.text
    read_id = auth_mod.token_id(auth_mod.token_digest(live.tokens["read"]))
    with live.client("read") as reader:
        before = len(_audit(reader, "transcript.read"))
        assert reader.get(f"/api/v1/sessions/{uid}-text").json()["hypothesis"] == f"{words} please"
        assert reader.get(f"/api/v1/sessions/{uid}-bare").json()["samples"][0]["reference"] == "just a reference"
        listed = reader.get("/api/v1/sessions", params={"model_version": "sec-v1", "limit": 5000}).json()
        assert {f"{uid}-text", f"{uid}-bare"} <= {s["session_id"] for s in listed}
        reader.get("/api/v1/samples")  # scores only: no text, no audit row
        rows = _audit(reader, "transcript.read")
    new = rows[: len(rows) - before]
    assert len(new) == 3, new
    assert all(e["actor"] == "api:read" and e["evidence"]["token"] == read_id for e in new)
    by_endpoint = {e["evidence"]["endpoint"]: e for e in new}
    listing = by_endpoint["GET /api/v1/sessions"]
    assert f"{uid}-text" in listing["evidence"]["session_ids"]
    assert f"{uid}-bare" not in listing["evidence"]["session_ids"]  # its session row has no text
    assert sorted(e["target"] for e in new if e is not listing) == [f"{uid}-bare", f"{uid}-text"]
    assert not any(w in str(e) for e in new for w in ("periwinkle", "reference"))
    assert live.tokens["read"] not in str(rows)


def test_admin_actions_are_audited_with_the_authenticated_actor(live):
    name = "sec-" + secrets.token_hex(3)
    with live.client("admin") as admin:
        r = admin.post("/api/v1/rollouts", json={"name": name, "baseline_version": "sec-v1",
                                                 "canary_version": "sec-v2"})
        assert r.status_code == 201, r.text
        silence = admin.post("/api/v1/silences", json={"matchers": [f'rollout="{name}"'], "duration": "1h",
                                                       "comment": f"maintenance {name}", "createdBy": "mallory"})
        assert silence.status_code == 201, silence.text
        sid = silence.json()["id"]
        assert admin.delete(f"/api/v1/silences/{sid}").status_code == 200
        assert admin.post(f"/api/v1/rollouts/{name}/rollback", json={"reason": f"bad canary {name}"}).status_code == 200
        found = {action: next((e for e in _audit(admin, action) if e["target"] in (name, sid)), None)
                 for action in ("rollout.register", "silence.create", "silence.expire", "rollout.rollback")}
    assert all(found.values()), found
    assert {e["actor"] for e in found.values()} == {"api:admin"}  # not the self-declared "mallory"
    assert found["silence.create"]["evidence"]["createdBy"] == "mallory"
    assert f"bad canary {name}" in found["rollout.rollback"]["reason"]
    for entry in found.values():
        assert datetime.fromisoformat(entry["at"]) > datetime.now(timezone.utc) - timedelta(minutes=5)


def test_console_admin_actions_refuse_a_read_token(live):
    from dashboards.api import ConsoleAPI, Forbidden

    name = "sec-console-" + secrets.token_hex(3)
    with live.client("admin") as admin:
        assert admin.post("/api/v1/rollouts", json={"name": name, "baseline_version": "sec-v1",
                                                     "canary_version": "sec-v3"}).status_code == 201
    console = ConsoleAPI(live.url, live.tokens["read"])
    with pytest.raises(Forbidden, match="admin"):
        console.create_silence(live.tokens["read"], [f'rollout="{name}"'], "1h", "should not land")
    with pytest.raises(Forbidden, match="admin"):
        console.rollback(live.tokens["read"], name, "should not happen")
    with live.client("read") as reader:
        assert reader.get(f"/api/v1/rollouts/{name}").json()["state"] == "active"
        assert not [s for s in reader.get("/api/v1/silences").json() if s["comment"] == "should not land"]


def test_cors_is_closed_by_default(live):
    origin = {"Origin": "https://evil.example"}
    with live.client("read") as reader:
        r = reader.get("/api/v1/clock", headers=origin)
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers
        pre = reader.options("/api/v1/clock", headers={**origin, "Access-Control-Request-Method": "GET",
                                                       "Access-Control-Request-Headers": "authorization"})
        assert "access-control-allow-origin" not in pre.headers


def test_tokens_in_urls_are_not_accepted(live):
    for param in ("token", "access_token", "api_key"):
        r = httpx.get(live.url + "/api/v1/clock", params={param: live.tokens["read"]})
        assert r.status_code == 401


def test_no_token_or_transcript_in_the_logs(live):
    words = ["xylophonist", "quetzalcoatl", "brouhaha", "snickerdoodle", "kumquat"]
    wrong = "wrong-" + secrets.token_hex(12)
    uid = secrets.token_hex(4)
    url = live.url
    with live.client("ingest") as ingest:
        assert ingest.post("/api/v1/sessions", json=[
            _session(f"{uid}-a", f"{words[0]} {words[1]} my card is 4111 1111 1111 1111"),
            _session(f"{uid}-bad", f"{words[1]} rejected", status="exploded"),  # one invalid record
        ]).status_code == 200
        assert ingest.post("/api/v1/sessions", json=[_session(f"{uid}-x", words[2], status="nope")]).status_code == 422
        assert ingest.post("/api/v1/samples", json=[{"session_id": f"{uid}-a", "source": "human",
                                                     "reference": f"{words[3]} {words[0]}"}]).status_code == 200
        broken = ingest.post("/api/v1/sessions", content=f'[{{"hypothesis": "{words[4]}"',
                             headers={"Content-Type": "application/json"})
        assert 400 <= broken.status_code < 500
        assert ingest.get("/api/v1/sessions").status_code == 403  # wrong scope
    bad_headers = [{"Authorization": f"Bearer {wrong}"}, {"Authorization": f"Token {live.tokens['ingest']}"},
                   {"Authorization": live.tokens["admin"]}, {"X-Api-Key": live.tokens["read"]},
                   {"Authorization": f"Basic {live.tokens['admin']}"}]
    for headers in bad_headers:
        assert httpx.post(url + "/api/v1/sessions", json=[_session(f"{uid}-h", words[0])],
                          headers=headers).status_code == 401
    assert httpx.get(f"{url}/api/v1/sessions", params={"access_token": live.tokens["admin"]}).status_code == 401
    assert httpx.get(f"{url}/api/v1/{live.tokens['read']}",
                     headers={"Authorization": f"Bearer {live.tokens['read']}"}).status_code in (401, 404)
    with live.client("read") as reader:
        assert words[0] in reader.get(f"/api/v1/sessions/{uid}-a").text
    logs = live.log_path.read_text(errors="replace")
    assert "Application startup complete" in logs  # the logs were captured at all
    lowered = logs.lower()
    secrets_and_text = [*live.tokens.values(), wrong, *words, "4111"]
    assert not [s for s in secrets_and_text if s.lower() in lowered], logs[-3000:]


# ---------------------------------------------------------------------------------------------
# A collector with rate limits and an allowed browser origin


def test_a_token_over_its_rate_gets_429_with_retry_after(limited):
    origin = {"Origin": "https://console.example"}
    with limited.client("read") as reader:
        assert [reader.get("/api/v1/clock").status_code for _ in range(2)] == [200, 200]
        over = reader.get("/api/v1/clock", headers=origin)
    assert over.status_code == 429
    assert over.headers["content-type"].startswith("application/json")
    assert "rate limit" in over.json()["detail"] and "'read'" in over.json()["detail"]
    assert 1 <= int(over.headers["retry-after"]) <= 20  # one request per 20 s refills
    # A browser on the allowed origin may read the 429 and its Retry-After.
    assert over.headers["access-control-allow-origin"] == "https://console.example"
    assert "retry-after" in over.headers["access-control-expose-headers"].lower()
    with limited.client("admin") as admin:
        assert admin.get("/api/v1/clock").status_code == 200  # another token, another bucket
    with limited.client("ingest") as ingest:  # no limit set for ingest
        for i in range(6):
            assert ingest.post("/api/v1/sessions", json=[_session(f"rl-{i}-{secrets.token_hex(3)}")]).status_code == 200


def test_cors_allows_only_the_listed_origin(limited):
    with limited.client("ingest") as ingest:
        body = [_session("cors-" + secrets.token_hex(3))]
        ok = ingest.post("/api/v1/sessions", json=body, headers={"Origin": "https://console.example"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://console.example"
        other = ingest.post("/api/v1/sessions", json=[_session("cors-" + secrets.token_hex(3))],
                            headers={"Origin": "https://evil.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    allowed = httpx.options(limited.url + "/api/v1/sessions",
                            headers={"Origin": "https://console.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://console.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = httpx.options(limited.url + "/api/v1/sessions", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers
