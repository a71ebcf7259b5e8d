"""Model owner: drift findings with evidence, tickets, worst slices, label-free WER and calibration, vocabulary drift."""

import altair as alt
import streamlit as st

from dashboards import hallucination_frames, loaders, sample_captions, ui
from dashboards import transforms as tf

data = ui.load("Model owner", loaders.load_model_owner)

st.subheader("WER by model version")
if ui.available(data["wer_by_version"], "WER"):
    st.dataframe(tf.frame(data["wer_by_version"].data, ["model_version", "wer", "ci_low", "ci_high", "utterances",
                                                         "ref_words", "substitutions", "deletions", "insertions",
                                                         "insertion_rate", "cer", "entity_recall",
                                                         "entity_occurrences"]),
                 hide_index=True, key="wer_version_table")

st.subheader("Hallucinations by model version")
if ui.available(data["hallucinations_by_version"], "Hallucinations"):
    flagged = hallucination_frames.by_version_frame(data["hallucinations_by_version"].data)
    if flagged.empty:
        st.caption("No session in this window sent its transcript.")
    else:
        st.dataframe(flagged, hide_index=True, key="hallucination_version_table")
        st.caption("Label-free checks of every transcript at ingest: compression ratio over 2.4, a phrase of "
                   "1-4 words looping 5+ times, text on audio marked non-speech (no_speech_prob >= 0.6). "
                   "Labeled: insertion_rate above.")

st.subheader("Diarization (DER) by model version and channel")
if ui.available(data["diarization_by_version"], "Diarization"):
    if data["diarization_by_version"].data:
        st.dataframe(tf.frame(data["diarization_by_version"].data, tf.DIARIZATION_COLUMNS), hide_index=True,
                     key="diarization_table")
    else:
        st.caption("No diarized samples in this window (samples with reference_segments and hypothesis_segments).")

drift_ok = ui.available(data["drift"], "Drift")
drift = data["drift"].data if drift_ok else {}
if drift_ok:
    st.subheader("Drift findings")
    if drift.get("at"):
        st.caption(f"Drift scan ending {drift['at']}")  # live views show the collector's last pass
    if note := sample_captions.drift_caption(drift.get("sample")):
        st.caption(note)
    findings = tf.findings_frame(drift)
    row = st.columns(3)
    row[0].metric("Findings", tf.fmt_int(len(findings)))
    row[1].metric("Ticket or page", tf.fmt_int(int(findings["severity"].isin(["ticket", "page"]).sum())))
    row[2].metric("Tests run", tf.fmt_int(drift.get("tests_run")))
    if findings.empty:
        st.success("No drift found.")
    else:
        st.dataframe(findings.drop(columns=["fingerprint"]), hide_index=True, key="finding_table")
        with_hist = [f for f in drift["findings"] if f.get("histogram")]
        if with_hist:
            labels = [f"{f['severity']} · {f['feature']} · {f['slice']}" for f in with_hist]
            pick = st.selectbox("Evidence for", range(len(labels)), format_func=lambda i: labels[i], key="finding_pick")
            evidence = tf.evidence_frame(with_hist[pick])
            st.altair_chart(alt.Chart(evidence).mark_bar().encode(
                x=alt.X("bin:N", sort=alt.EncodingSortField("order"), title=with_hist[pick]["feature"]),
                xOffset="window:N", y=alt.Y("fraction:Q", axis=alt.Axis(format="%")),
                color=alt.Color("window:N", scale=alt.Scale(domain=["reference", "current"],
                                                            range=["#94a3b8", "#2563eb"])),
                tooltip=["bin", "window", alt.Tooltip("fraction:Q", format=".1%")]), width="stretch")
            st.caption(with_hist[pick].get("summary") or "")

st.subheader("Tickets")
if ui.available(data["tickets"], "Tickets"):
    tickets = tf.tickets_frame(data["tickets"].data)
    if tickets.empty:
        st.caption("No tickets.")
    else:
        st.dataframe(tickets, hide_index=True, key="ticket_table")

if drift_ok:
    st.subheader("Worst slices")
    worst = tf.worst_slices_frame(drift)
    if worst.empty:
        st.caption("No slice has enough labeled data to compare.")
    else:
        st.dataframe(worst, hide_index=True, key="worst_table")

    st.subheader("Label-free WER and calibration")
    lf = tf.label_free_frame(drift)
    if lf.empty:
        st.caption("No model version has traffic in the current window.")
    else:
        for line in tf.withheld_label_free(drift):  # no number the calibration cannot back
            st.warning(line)
        st.dataframe(lf, hide_index=True, key="label_free_table")
        slices = tf.calibration_slices_frame(drift)
        if not slices.empty:
            st.caption("Calibration health per slice (calibrated: what the estimate uses; raw: the engine's confidence)")
            st.dataframe(slices, hide_index=True, key="calibration_slice_table")
        curve = tf.calibration_frame(drift)
        if curve.empty:
            ece = lf.melt(id_vars=["model_version"], value_vars=["raw_ece", "calibrated_ece"], var_name="calibration",
                          value_name="ece").dropna()
            st.altair_chart(alt.Chart(ece).mark_bar().encode(
                x=alt.X("ece:Q", title="expected calibration error"), y=alt.Y("model_version:N", title=None),
                yOffset="calibration:N", color="calibration:N"), width="stretch")
        else:
            diagonal = alt.Chart(tf.frame([{"confidence": 0, "accuracy": 0}, {"confidence": 1, "accuracy": 1}],
                                          ["confidence", "accuracy"])).mark_line(strokeDash=[4, 4], color="gray")
            points = alt.Chart(curve).mark_line(point=True).encode(
                x=alt.X("confidence:Q", scale=alt.Scale(domain=[0, 1])),
                y=alt.Y("accuracy:Q", title="observed word accuracy", scale=alt.Scale(domain=[0, 1])),
                color="model_version:N", tooltip=["model_version", "confidence", "accuracy", "count"])
            st.altair_chart(diagonal + points, width="stretch")

    st.subheader("Vocabulary drift")
    vocab = tf.vocabulary_frame(drift)
    if vocab.empty:
        st.caption("No new terms.")
    else:
        st.dataframe(vocab, hide_index=True, key="vocabulary_table")
