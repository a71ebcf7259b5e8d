"""Alert router: routes SLO and drift alerts to receivers (see ROUTING.md)."""
