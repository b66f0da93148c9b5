"""The analysts' what-if page, `/what-if`: a battery's power, energy, efficiencies, SoC limits and
markets on a window of bundled or stored prices, answered by POST /v1/schedules (analyst key) and
drawn. The page holds no data and no rights of its own: it asks the API with the key you give it."""
from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ..markets import PRODUCTS, get_zone

PAGE = Path(__file__).with_name("whatif.html")

# bundled real prices per zone-year (`sample:` references, data/samples/PROVENANCE.md): the
# day-ahead of that year, and capacity prices of other years re-stamped onto it (as the shipped
# backtests use them: read them as "what that market paid then")
MARKETS = [
    {"name": "DE-LU 2023", "zone": "DE-LU", "year": 2023, "day_ahead": "sample:DE_LU_2023",
     "reserves": [{"ref": "sample:FCR_2021@2023", "products": ["fcr"]},
                  {"ref": "sample:DE_AFRR_UP_2015_2017@2023", "products": ["afrr_up"]},
                  {"ref": "sample:DE_AFRR_DOWN_2015_2017@2023", "products": ["afrr_down"]}]},
    {"name": "DE-LU 2024", "zone": "DE-LU", "year": 2024, "day_ahead": "sample:DE_LU_2024",
     "reserves": [{"ref": "sample:FCR_2021@2024", "products": ["fcr"]},
                  {"ref": "sample:DE_AFRR_UP_2015_2017@2024", "products": ["afrr_up"]},
                  {"ref": "sample:DE_AFRR_DOWN_2015_2017@2024", "products": ["afrr_down"]}]},
    {"name": "DK2 2023", "zone": "DK2", "year": 2023, "day_ahead": "sample:NORDIC_2023",
     "reserves": [{"ref": "sample:DK2_FCR_NORDIC_2021@2023", "products": ["fcr_n", "fcr_d_up"]}]},
    {"name": "BE 2023", "zone": "BE", "year": 2023, "day_ahead": "sample:BE_2023", "reserves": []},
    {"name": "DK1 2023", "zone": "DK1", "year": 2023, "day_ahead": "sample:DK1_2023", "reserves": []},
    {"name": "SE3 2023", "zone": "SE3", "year": 2023, "day_ahead": "sample:SE3_2023", "reserves": []},
    {"name": "FI 2023", "zone": "FI", "year": 2023, "day_ahead": "sample:FI_2023", "reserves": []},
]

router = APIRouter()


def page_data() -> dict:
    """What the page offers: the bundled markets, every product's label, each zone's products."""
    zones = sorted({m["zone"] for m in MARKETS})
    return {"markets": MARKETS, "labels": {p: v.label for p, v in PRODUCTS.items()},
            "zone_products": {z: list(get_zone(z).products) for z in zones}}


@router.get("/what-if", response_class=HTMLResponse, include_in_schema=False)
async def what_if_page() -> HTMLResponse:
    # JSON inside a <script>: "</" could close it
    return HTMLResponse(PAGE.read_text().replace("{{DATA}}", json.dumps(page_data()).replace("</", "<\\/")))
