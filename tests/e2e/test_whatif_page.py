"""The analysts' what-if page in a real headless browser (Debian's chromium): it asks POST
/v1/schedules with the key it is given and draws exactly what the API answered; the key's role
decides as it does for the API."""
import html
import json
import re

import pytest

from tests.api_client import call
from tests.conftest import browser_dom


def _attr(dom: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]*)"', dom)
    assert m, f"no {name} in the page: {dom[-1500:]}"
    return m.group(1)


def test_the_page_draws_what_the_api_answers_for_the_inputs_it_was_given(api, tmp_path):
    # the inputs come from the link (a what-if can be shared): 0.5 MW / 1.5 MWh on day-ahead and FCR
    link = (f"{api['url']}/what-if#key={api['tokens']['analyst']}&days=2&power=0.5&energy=1.5&eta_c=0.9"
            "&products=da,fcr")
    dom = browser_dom(link, tmp_path / "1")
    assert 'id="error"></div>' in dom, re.search(r'id="error">([^<]*)', dom).group(1)
    sent = json.loads(html.unescape(re.search(r'<pre id="request" hidden="">(.*?)</pre>', dom, re.S).group(1)))
    battery = sent["site"]["assets"][0]
    assert battery["charge_mw"] == 0.5 and battery["energy_mwh"] == 1.5 and battery["charge_efficiency"] == 0.9
    assert sent["products"] == ["da", "fcr"] and sent["scenario"]["reserves"] == ["sample:FCR_2021@2023"]
    # the same request through the API: the page shows its money and cycles, to the cent
    status, answer = call(api, "POST", "/v1/schedules", sent, role="analyst")
    assert status == 200, answer
    assert float(_attr(dom, "data-revenue")) == pytest.approx(round(answer["revenue_eur"], 2), abs=0.005)
    assert float(_attr(dom, "data-cycles")) == pytest.approx(answer["assets"]["bess"]["equivalent_full_cycles"], abs=1e-4)
    bars = dict(re.findall(r'data-product="(\w+)" data-eur="([-\d.]+)"', dom))
    assert set(bars) == set(answer["revenue_by_product_eur"]) == {"da", "fcr"}
    for p, eur in answer["revenue_by_product_eur"].items():
        assert float(bars[p]) == pytest.approx(eur, abs=0.005)
    assert int(_attr(dom, "data-points")) == answer["intervals"] == 2 * 96  # the SoC line, one point per interval
    assert 'data-series="price"' in dom and dom.count('data-series="net"') > 10  # price line and power bars


def test_the_page_needs_an_analyst_key(api, tmp_path):
    dom = browser_dom(f"{api['url']}/what-if#key={api['tokens']['viewer']}&days=1", tmp_path / "1")
    error = re.search(r'id="error">([^<]*)', dom).group(1)
    assert "403" in error and "analyst" in error and 'data-revenue' not in dom
    nokey = browser_dom(f"{api['url']}/what-if", tmp_path / "2", 3000)
    assert '<form id="login">' in nokey  # it asks for a key (the form no longer hidden)
    assert call(api, "GET", "/what-if")[0] == 200  # the page itself holds no data: no key to load it
