"""``/docs`` and ``/redoc`` render on a machine without internet: every asset comes from us."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html
    assets = [a or b for a, b in ASSET.findall(html)]
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts, html  # the page does load its script
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), asset
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 0
