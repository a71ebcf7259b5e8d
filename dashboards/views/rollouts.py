"""Rollouts: canary vs baseline per slice, the decision and its reasons, the audit log, admin actions."""

import altair as alt
import streamlit as st

from dashboards import loaders, ui
from dashboards import transforms as tf
from dashboards.api import ConsoleError

data = ui.load("Rollouts", loaders.load_rollouts, name=st.session_state.get("rollout_name") or None)
name = data["name"].data

st.subheader("Rollout")
if ui.available(data["rollouts"], "Rollout list"):
    names = [r["name"] for r in reversed(data["rollouts"].data)]  # newest first
    if names:
        st.selectbox("Rollout", names, index=names.index(name) if name in names else 0, key="rollout_name")
    else:
        st.caption("No rollouts registered.")
else:
    st.text_input("Rollout name", key="rollout_name")

if name and ui.available(data.sections.get("rollout"), f"Rollout {name}"):
    r = data["rollout"].data
    st.caption(f"{r.get('canary_version')} (canary) vs {r.get('baseline_version')} (baseline) · state {r.get('state')}"
               f" · slice by {', '.join(r.get('slice_by') or [])} · protected "
               f"{', '.join(tf.slice_label(p) for p in r.get('protected_slices') or []) or 'none'}")

if name and ui.available(data.sections.get("verdict"), "Verdict"):
    verdict = data["verdict"].data
    decision = verdict.get("decision", "?")
    box = {"continue": st.success, "pause": st.warning, "rollback": st.error}.get(decision, st.info)
    box(f"Decision: {decision.upper()}")
    findings, waiting = tf.split_reasons(verdict.get("reasons") or [])
    if findings:
        st.markdown("**Why**\n" + "\n".join(f"- {reason}" for reason in findings))
    if waiting:
        st.markdown("**Not enough data yet**\n" + "\n".join(f"- {reason}" for reason in waiting))
    tests = tf.verdict_frame(verdict)
    arms = tf.arms_frame(verdict)
    if not arms.empty:
        st.altair_chart(alt.Chart(arms.dropna(subset=["wer"])).mark_bar().encode(
            x=alt.X("wer:Q", title="corpus WER", axis=alt.Axis(format="%")), y=alt.Y("slice:N", title=None),
            yOffset="arm:N", color=alt.Color("arm:N", scale=alt.Scale(domain=["baseline", "canary"],
                                                                       range=["#94a3b8", "#2563eb"])),
            tooltip=["slice", "arm", alt.Tooltip("wer:Q", format=".2%"), "utterances"]), width="stretch")
    wer_tests = tests[(tests["metric"] == "wer") & tests["low"].notna()]
    if not wer_tests.empty:
        st.caption("Relative WER change of the canary per slice, 95% interval (right of 0 = worse)")
        base = alt.Chart(wer_tests).encode(y=alt.Y("slice:N", title=None))
        st.altair_chart(base.mark_rule().encode(x=alt.X("low:Q", title="relative WER change", axis=alt.Axis(format="%")),
                                                x2="high:Q")
                        + base.mark_point(filled=True, size=60).encode(
                            x="effect:Q", color=alt.Color("regression:N", scale=alt.Scale(
                                domain=[False, True], range=["#16a34a", "#dc2626"]))), width="stretch")
    st.dataframe(tests, hide_index=True, key="verdict_table")

st.subheader("Audit log")
if ui.available(data["audit"], "Audit log"):
    audit = tf.audit_frame(data["audit"].data)
    if audit.empty:
        st.caption("No audit entries in this range.")
    else:
        st.dataframe(audit, hide_index=True, key="audit_table")

st.subheader("Roll back or silence (admin)")
admin = st.text_input("Admin token", type="password", key="admin_token",
                      help="Used for this action only; never stored or logged.")
silence_tab, rollback_tab = st.tabs(["Silence", "Rollback"])
with silence_tab, st.form("silence_form"):
    matchers = st.text_input("Matchers", placeholder="alertname=SLOErrorBudgetBurn, region=us-east")
    duration = st.selectbox("Duration", ["30m", "1h", "2h", "4h", "12h", "24h"], index=1)
    comment = st.text_input("Comment (why)")
    silence_clicked = st.form_submit_button("Create silence")
with rollback_tab, st.form("rollback_form"):
    target = st.text_input("Rollout", value=name or "")
    reason = st.text_input("Reason")
    rollback_clicked = st.form_submit_button("Roll back now")

if silence_clicked or rollback_clicked:
    try:
        if not admin.strip():
            raise ConsoleError("An admin token is required for rollbacks and silences.")
        if silence_clicked:
            if not comment.strip():
                raise ConsoleError("comment: say why you silence (it goes to the audit log).")
            made = ui.api().create_silence(admin.strip(), tf.parse_matchers(matchers), duration, comment.strip())
            st.success(f"Silence {made.get('id')} created until {made.get('endsAt')}.")
        else:
            if not target.strip() or not reason.strip():
                raise ConsoleError("rollout and reason: both are required for a rollback.")
            done = ui.api().rollback(admin.strip(), target.strip(), reason.strip())
            if done.get("via") == "evaluate":
                st.warning(f"This collector has no manual rollback; re-judged {target.strip()} now: decision "
                           f"{done.get('decision')}, {len(done.get('actions') or [])} action(s) taken.")
            else:
                st.success(f"Rollback of {target.strip()} done: {done.get('state', done.get('decision', 'ok'))}.")
        st.cache_data.clear()
    except ValueError as exc:
        st.error(str(exc))
    except ConsoleError as exc:
        st.error(exc.message)
