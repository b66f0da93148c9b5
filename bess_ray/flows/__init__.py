"""Flows: versioned trading workflows (data update, trading, auction, aFRR, intraday, manual
schedule, send) and the orchestrator that runs them at the market gates, exactly once per (flow,
site, delivery period). See docs/flows.md."""
from .orchestrator import Orchestrator, SiteLink
from .registry import FlowError, catalogue, get_flow
from .spec import Flows, load_flows

__all__ = ["FlowError", "Flows", "Orchestrator", "SiteLink", "catalogue", "get_flow", "load_flows"]
