"""Debug: one session's trace waterfall, transcript diff and token confidences; SNR vs WER; model versions side by side."""

import os

import altair as alt
import streamlit as st

from dashboards import hallucination_frames, loaders, sample_captions, ui
from dashboards import transforms as tf
from dashboards import version_comparison as vc

st.title("Debug")
if "session_id" not in st.session_state and st.query_params.get("session"):
    st.session_state["session_id"] = st.query_params["session"]
session_id = st.text_input("Session id", key="session_id", placeholder="paste an id or open one from any table").strip()
data = ui.load(None, loaders.load_debug, session_id=session_id or None,
               compare=st.session_state.get("compare_versions", False))


def _normalizer(language=None):
    # As the collector scored it: by default the session's language picks (`wer.normalizer_for`).
    from collector.measures import normalizer, wer

    return normalizer(wer.normalizer_for(language, os.environ.get("ASRWATCH_CONSOLE_NORMALIZER", "language")))


if session_id and ui.available(data["session"], f"Session {session_id}"):
    s = data["session"].data
    # Two rows of three, the model's the widest: a status like "decode_error" and a model name with
    # its date do not fit a sixth of a laptop screen (the tiles wrap rather than cut, but a word
    # broken over lines reads worse).
    row = st.columns([2, 1, 1])
    row[0].metric("Model", s.get("model_version"))
    row[1].metric("Status", s.get("status"))
    row[2].metric("Final latency", tf.fmt_ms(s.get("final_latency_ms")))
    row = st.columns([2, 1, 1])
    row[0].metric("First partial", tf.fmt_ms(s.get("first_partial_ms")))
    row[1].metric("Confidence", tf.fmt_num(s.get("confidence"), 3))
    row[2].metric("SNR", "n/a" if s.get("snr_db") is None else f"{s['snr_db']:.1f} dB")
    st.caption(" · ".join(f"{k}={s.get(k)}" for k in ("ts", "region", "channel", "tenant", "language", "pool")))
    note = hallucination_frames.session_note(s)
    if note:
        st.warning(note)

    st.subheader("Trace waterfall")
    stages = tf.waterfall_frame(s)
    if stages.empty:
        st.info("No trace stages for this session (it was not sent as an OTLP trace).")
    else:
        chart = alt.Chart(stages).mark_bar().encode(
            x=alt.X("start_ms:Q", title="ms since first stage"), x2="end_ms:Q",
            y=alt.Y("stage:N", sort=list(stages["stage"]), title=None), color=alt.Color("stage:N", legend=None),
            tooltip=["stage", alt.Tooltip("duration_ms:Q", format=".1f")])
        st.altair_chart(chart, width="stretch")

    st.subheader("Transcript vs reference")
    samples = s.get("samples") or []
    if not samples:
        st.info("No labeled reference for this session.")
    for sample in samples:
        diff = tf.transcript_diff(sample.get("reference") or "", sample.get("hypothesis") or s.get("hypothesis"),
                                  _normalizer(s.get("language")))
        row = st.columns(5)
        row[0].metric("WER", tf.fmt_pct(sample.get("wer")))
        row[1].metric("Substitutions", tf.fmt_int(sample.get("substitutions")))
        row[2].metric("Deletions", tf.fmt_int(sample.get("deletions")))
        row[3].metric("Insertions", tf.fmt_int(sample.get("insertions")))
        row[4].metric("Reference words", tf.fmt_int(sample.get("ref_words")))
        if sample.get("ref_chars") is not None:  # scored since migration 0011: CER and entity recall
            row = st.columns(5)
            row[0].metric("CER", tf.fmt_pct(tf.sample_cer(sample)))
            row[1].metric("Character errors", tf.fmt_int(sample.get("char_errors")))
            row[2].metric("Reference characters", tf.fmt_int(sample.get("ref_chars")))
            row[3].metric("Entity recall", tf.fmt_pct(tf.sample_entity_recall(sample)))
            row[4].metric("Entities found", f"{sample.get('entities_found')} / {sample.get('entity_occurrences')}")
        st.markdown(tf.diff_html(diff), unsafe_allow_html=True)
        if sample.get("der_speech_s") is not None:  # a diarized sample: who spoke when, and what the system heard
            row = st.columns(5)
            row[0].metric("DER", tf.fmt_pct(tf.sample_der(sample)))
            row[1].metric("Missed", f"{sample['der_missed_s']:.2f} s")
            row[2].metric("False alarm", f"{sample['der_false_alarm_s']:.2f} s")
            row[3].metric("Confusion", f"{sample['der_confusion_s']:.2f} s")
            row[4].metric("Speakers (ref / hyp)", f"{sample.get('ref_speakers')} / {sample.get('hyp_speakers')}")
            turns = tf.speaker_turns_frame(sample)
            st.altair_chart(alt.Chart(turns).mark_bar().encode(
                x=alt.X("start_s:Q", title="seconds"), x2="end_s:Q", y=alt.Y("track:N", title=None),
                color="speaker:N", tooltip=["track", "speaker", "start_s", "end_s"]), width="stretch")
        st.caption(f"source: {sample.get('source')} · amber = substitution (ref→hyp), red = deletion, "
                   "green = insertion")

    tokens = tf.token_frame(s.get("attributes"))
    if not tokens.empty:
        st.subheader("Token confidence")
        heat = alt.Chart(tokens).mark_rect().encode(
            x=alt.X("position:O", title=None, axis=None), y=alt.Y("line:O", title=None, axis=None),
            color=alt.Color("probability:Q", scale=alt.Scale(scheme="redyellowgreen", domain=[0, 1])),
            tooltip=["token", alt.Tooltip("probability:Q", format=".3f")])
        text = alt.Chart(tokens).mark_text(fontSize=11).encode(
            x=alt.X("position:O"), y=alt.Y("line:O"), text="token:N")
        st.altair_chart(heat + text, width="stretch")

st.subheader("Recent sessions")
if ui.available(data["recent"], "Sessions"):
    # An older collector has no /api/v1/storage: it stores every session, nothing to say.
    note = sample_captions.sessions_caption(data["storage"].data, data.totals.get("sessions"))
    if note:
        st.caption(note)
    recent = tf.frame(data["recent"].data, ["session_id", "ts", "status", "model_version", "channel", "region",
                                            "final_latency_ms", "confidence", "snr_db"])
    recent["hallucination"] = [hallucination_frames.reasons_label(r.get("hallucination")) for r in data["recent"].data]
    recent["debug"] = [ui.debug_link(x) for x in recent["session_id"]]
    st.dataframe(recent, hide_index=True, key="recent_table",
                 column_config={"debug": st.column_config.LinkColumn("debug", display_text="open")})

st.subheader("SNR vs WER")
if ui.available(data["scatter"], "SNR vs WER"):
    points = tf.scatter_frame(data["scatter"].data)
    if points.empty:
        st.info("No labeled sessions with SNR in this slice.")
    else:
        st.altair_chart(alt.Chart(points).mark_circle(opacity=0.5).encode(
            x=alt.X("snr_db:Q", title="SNR (dB)"), y=alt.Y("wer:Q", title="utterance WER"),
            color=alt.Color("model_version:N", legend=alt.Legend(orient="bottom", labelLimit=0, titleLimit=0,
                                                                 title="model version")),
            tooltip=["session_id", "channel", "snr_db", "wer"]), width="stretch")

st.subheader("Model versions side by side")
# Off by default: three grouped queries over the whole window, slow on a large store.
if st.toggle("Compare model versions", key="compare_versions"):
    parts = [data.sections.get(k) for k in ("wer_by_version", "latency_by_version", "cost_by_version")]
    if all(ui.available(p, "Model comparison") for p in parts):
        bars = vc.comparison_bars_frame(*(p.data for p in parts))
        if not bars.empty:
            st.altair_chart(vc.comparison_chart(bars, vc.comparison_description(bars)), width="content",
                            key="comparison_chart")
            st.caption("One panel per metric, each on its own scale; the black bar on WER is its 95% interval.")
        st.dataframe(tf.comparison_frame(*(p.data for p in parts)), key="comparison_table")
