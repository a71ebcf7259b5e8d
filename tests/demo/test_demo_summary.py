from asrwatch.demo_summary import explain, format_summary, summarize

CANARY = {"scenario": "canary", "onset": "2026-11-21T10:00:00+00:00", "should_fire": ["page", "rollback"],
          "where": {"model_version": "m2", "channel": "far_field"}}
COST = {"scenario": "cost", "onset": "2026-11-21T12:00:00+00:00", "should_fire": ["cost-anomaly"], "where": {}}


def alert(labels, starts, ends=None, severity="page"):
    return {"name": "SLOErrorBudgetBurn", "severity": severity, "labels": labels, "starts_at": starts,
            "ends_at": ends}


def test_alerts_are_explained_only_by_their_incident_slice_after_onset():
    on_canary = alert({"slo": "availability", "model_version": "m2", "channel": "far_field"}, "2026-11-21T10:05:00+00:00")
    early = alert({"slo": "availability", "model_version": "m2", "channel": "far_field"}, "2026-11-21T09:00:00+00:00")
    elsewhere = alert({"slo": "availability", "model_version": "m1", "channel": "web"}, "2026-11-21T13:00:00+00:00")
    assert explain(on_canary, [CANARY, COST]) == "canary"
    assert explain(early, [CANARY, COST]) is None          # before the onset: noise
    assert explain(elsewhere, [CANARY, COST]) is None      # a fleet-wide cost incident explains no SLO page
    same_canary = alert({"slo": "availability", "model_version": "m2", "channel": "web"}, "2026-11-21T10:09:00+00:00")
    assert explain(same_canary, [CANARY]) == "canary"      # the bad canary's other slices are its incident


def test_summary_measures_time_to_page_and_rollback_in_event_time():
    page = alert({"model_version": "m2", "channel": "far_field"}, "2026-11-21T10:07:00+00:00",
                 ends="2026-11-21T10:30:00+00:00")
    rollbacks = [{"at": "2026-11-21T10:12:00+00:00", "canary_version": "m2"}]
    summary = summarize([CANARY, COST], [page], [{"team": "speech-core", "title": "WERRegression"}], rollbacks)
    canary = summary["incidents"][0]
    assert canary["minutes_to_page"] == 7 and canary["minutes_to_rollback"] == 12 and canary["page_resolved"]
    assert summary["incidents"][1]["minutes_to_rollback"] is None
    assert summary["unexplained_alerts"] == [] and summary["ticket_teams"] == ["speech-core"]


SATURATION = {"scenario": "saturation", "onset": "2026-11-21T15:00:00+00:00", "should_fire": ["page"],
              "where": {"region": "us-east"}}
REGIONAL = {"scenario": "regional", "onset": "2026-11-21T11:00:00+00:00", "should_fire": ["quality-alert"],
            "where": {"region": "sa-east"}}


def test_a_page_goes_to_the_incident_its_labels_name_not_the_first_that_does_not_contradict():
    # The latency SLO is grouped by region: its page names no model version, so the canary
    # incident does not contradict it, but the saturation's slice is the one it names.
    latency = alert({"slo": "final-latency", "region": "us-east"}, "2026-11-21T15:20:00+00:00")
    assert explain(latency, [CANARY, COST, SATURATION]) == "saturation"
    # Nothing named: the latest incident that may page explains it.
    fleet_wide = alert({"slo": "availability"}, "2026-11-21T15:30:00+00:00")
    assert explain(fleet_wide, [CANARY, SATURATION]) == "saturation"
    assert explain(fleet_wide, [CANARY]) == "canary"


def test_tickets_are_credited_to_their_incident():
    tickets = [
        {"team": "speech-core", "title": "WERRegression: region=sa-east", "labels": {"region": "sa-east"},
         "opened_at": "2026-11-21T11:40:00+00:00"},
        {"team": "finops", "title": "CostRegression", "labels": {"alertname": "CostRegression"},
         "opened_at": "2026-11-21T12:30:00+00:00"},
    ]
    summary = summarize([CANARY, REGIONAL, COST], [], tickets, [])
    assert summary["ticket_incidents"] == ["regional", "cost"]
    by_name = {i["scenario"]: i for i in summary["incidents"]}
    assert (by_name["regional"]["tickets"], by_name["cost"]["tickets"], by_name["canary"]["tickets"]) == (1, 1, 0)
    text = format_summary(summary)
    assert "ticket -> speech-core: WERRegression: region=sa-east   [regional]" in text
    assert "ticket -> finops: CostRegression   [cost]" in text
