"""`call`: one request to the API under test, over real HTTP."""
import json
import urllib.error
import urllib.request


def call(api, method, path, body=None, role=None, raw: bytes | None = None, content_type="application/json",
         token=None, headers=None, answer_headers=False):
    """(status, decoded body) of one request; with answer_headers, (status, body, headers)."""
    headers = {"Content-Type": content_type, **(headers or {})}
    if role or token:
        headers["Authorization"] = f"Bearer {token or api['tokens'][role]}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(api["url"] + path, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            kind = r.headers.get("content-type", "")
            content = r.read()
            out = (r.status, json.loads(content or b"null") if "json" in kind else
                   content.decode() if kind.startswith("text/") else content)
            return (*out, r.headers) if answer_headers else out
    except urllib.error.HTTPError as e:
        out = (e.code, json.loads(e.read()))
        return (*out, e.headers) if answer_headers else out
