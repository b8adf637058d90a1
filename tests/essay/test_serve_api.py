"""The HTTP API (dlpy.essay.serve) through FastAPI's TestClient: every endpoint, and every bad
input answered with a 4xx and a message, never a 5xx."""

import json
import socket

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from serving import PROMPT, class_zip, good_essay, service  # noqa: E402

from dlpy.essay import service as svc  # noqa: E402


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from dlpy.essay.serve import create_app

    return TestClient(create_app(service()), raise_server_exceptions=False)


def test_page_docs_and_health(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "에세이 채점기" in page.text
    for path in ("/static/app.js", "/static/style.css", "/docs"):
        assert client.get(path).status_code == 200, path
    # the page loads nothing from another host: no CDN, works offline
    for path in ("/", "/static/app.js", "/static/style.css", "/docs"):
        assert "http://" not in client.get(path).text.replace("http://${", "")
        assert "https://" not in client.get(path).text
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["model"]["prompts"] > 0
    spec = client.get("/openapi.json").json()
    assert {"/healthz", "/api/prompts", "/api/score", "/api/score-batch"} <= set(spec["paths"])


def test_prompts_by_category(client):
    categories = client.get("/api/prompts").json()["categories"]
    titles = [p["title"] for c in categories for p in c["prompts"]]
    assert PROMPT in titles
    assert sorted(p["id"] for c in categories for p in c["prompts"]) == list(range(len(titles)))


def test_score_one_essay(client):
    response = client.post("/api/score", json={"text": good_essay(), "prompt": PROMPT})
    assert response.status_code == 200
    body = response.json()
    assert 0 <= body["score"] <= 30 and isinstance(body["integer"], int)
    assert set(body["criteria"]) == {"organisation", "content", "expression"}
    assert body["warnings"] == []
    e = body["explanation"]
    assert e["total"] == pytest.approx(e["model_output"], abs=1e-3)
    assert e["total"] == pytest.approx(body["score"], abs=0.01)
    for span in e["words"] + e["sentences"]:
        assert body["text"][span["start"]:span["end"]] == span["text"]
    assert any(w["contribution"] > 0 for w in e["words"])
    for fix in body["spacing"]:
        assert body["text"][fix["start"]:fix["end"]] == fix["text"]
        assert fix["suggestion"].replace(" ", "") == fix["text"].replace(" ", "")


def test_missing_and_unknown_prompt_are_said(client):
    body = client.post("/api/score", json={"text": good_essay()}).json()
    assert "missing_prompt" in [w["code"] for w in body["warnings"]]
    body = client.post("/api/score", json={"text": good_essay(), "prompt": "없는 주제"}).json()
    assert "unknown_prompt" in [w["code"] for w in body["warnings"]]
    assert all(w["ko"] and w["en"] for w in body["warnings"])


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 422, "JSON"),
    (b'{"text": 5}', 422, "text"),
    (b'{"text": "abc", "prompt": 3}', 422, "prompt"),
    (b"[]", 422, "object"),
    (b"null", 422, "object"),
    (b'{"prompt": "x"}', 422, "text"),
    (b'{"text": "abc", "surprise": 1}', 422, "surprise"),
    (('{"text": "abc", "prompt": "%s"}' % ("주" * 501)).encode(), 422, "prompt"),
    (b'{"text": "  \\n "}', 422, "empty"),
    ('{"text": "가\udcff"}'.encode("utf-8", "surrogatepass"), 422, "surrogate"),
    (b'{"text": "\\udcff"}', 422, "surrogate"),
    (b'{"text": "\xff\xfe\xfa"}', 400, ""),
])
def test_bad_requests_get_4xx(client, body, status, message):
    response = client.post("/api/score", content=body,
                           headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_a_body_that_is_not_json_gets_4xx(client):
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = client.post("/api/score", content=b"text=abc",
                               headers={"content-type": content_type})
        assert 400 <= response.status_code < 500, (content_type, response.status_code)
    assert client.get("/api/score").status_code == 405
    assert client.get("/nowhere").status_code == 404


def test_limits_answer_413(client):
    long = "가나다라 마바사. " * (svc.MAX_CHARS // 9 + 1)
    response = client.post("/api/score", json={"text": long})
    assert response.status_code == 413 and "20,000" in response.json()["detail"]
    huge = b'{"text": "' + b"a" * 600_000 + b'"}'
    response = client.post("/api/score", content=huge,
                           headers={"content-type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def _lines(response):
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_batch_zip_streams_progress_and_csv(client):
    data = class_zip({"ESSAY_1": good_essay(), "ESSAY_2": "나는 커서 의사가 되고 싶다. " * 8,
                      "ESSAY_3": "hello world this is not korean at all " * 5})
    response = client.post("/api/score-batch", files={"file": ("class.zip", data)})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = _lines(response)
    rows, summary = lines[:-1], lines[-1]
    assert [r["done"] for r in rows] == [1, 2, 3] and {r["total"] for r in rows} == {3}
    assert [r["id"] for r in rows] == ["ESSAY_1", "ESSAY_2", "ESSAY_3"]
    assert all(0 <= r["score"] <= 30 for r in rows)
    assert "not_korean" in rows[2]["warnings"]
    assert summary["summary"] and summary["scored"] == 3
    whole = client.post("/api/score-batch?format=json", files={"file": ("class.zip", data)})
    assert whole.status_code == 200
    document = whole.json()
    assert [r["id"] for r in document["essays"]] == ["ESSAY_1", "ESSAY_2", "ESSAY_3"]
    assert document["summary"]["scored"] == 3
    response = client.post("/api/score-batch?format=csv", files={"file": ("class.zip", data)})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    header, *csv_rows = response.text.strip().splitlines()
    assert header.split(",")[:4] == ["id", "prompt", "score", "integer"] and len(csv_rows) == 3


def test_batch_zip_with_a_broken_member_goes_on(client):
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.json", json.dumps({"id": "a", "text": good_essay(), "prompt": PROMPT}))
        archive.writestr("b.json", b"{broken")
        archive.writestr("c.json", json.dumps({"paragraph": "not a list"}))
    rows = _lines(client.post("/api/score-batch", files={"file": ("c.zip", out.getvalue())}))
    assert [r["id"] for r in rows[:-1]] == ["a", "b", "c"]
    assert "score" in rows[0] and "not valid JSON" in rows[1]["error"]
    assert "expected" in rows[2]["error"] and rows[-1]["scored"] == 1


def test_batch_csv_and_jsonl(client):
    text = good_essay().replace("\n", " ")
    csv_data = f'id,text,prompt\na,"{text}",{PROMPT}\nb,"",{PROMPT}\n'.encode("cp949")
    rows = _lines(client.post("/api/score-batch", files={"file": ("class.csv", csv_data)}))
    assert rows[0]["id"] == "a" and "score" in rows[0]
    assert "empty" in rows[1]["error"]  # one bad essay does not stop the class
    jsonl = "\n".join(json.dumps({"id": i, "text": text, "prompt": PROMPT}, ensure_ascii=False)
                      for i in range(2)).encode("utf-8")
    rows = _lines(client.post("/api/score-batch", files={"file": ("class.jsonl", jsonl)}))
    assert [r["id"] for r in rows[:-1]] == ["0", "1"]


@pytest.mark.parametrize("name, data, status, message", [
    ("class.zip", b"PK\x03\x04 broken", 422, "zip"),
    ("class.bin", b"\x00\x01\x02", 422, "expected"),
    ("class.csv", b"name,score\nx,1\n", 422, "'text' column"),
    ("class.jsonl", b'{"text": 1}\n', 422, "line 1"),
    ("class.jsonl", b"{oops\n", 422, "line 1"),
    ("class.csv", b"", 422, ""),
])
def test_bad_batches_get_4xx(client, name, data, status, message):
    response = client.post("/api/score-batch", files={"file": (name, data)})
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_batch_limits(client, monkeypatch):
    monkeypatch.setattr(svc, "MAX_BATCH_ESSAYS", 2)
    data = class_zip({f"ESSAY_{i}": "나는 학생이다." for i in range(3)})
    response = client.post("/api/score-batch", files={"file": ("class.zip", data)})
    assert response.status_code == 413 and "more than 2 essays" in response.json()["detail"]
    assert client.post("/api/score-batch").status_code == 422  # no file at all
    response = client.post("/api/score-batch?format=xml",
                           files={"file": ("class.zip", data)})
    assert response.status_code == 422


def test_writes_nothing_and_calls_nobody(client, tmp_path, monkeypatch):
    monkeypatch.setenv("DLPY_CACHE_DIR", str(tmp_path / "cache"))

    def no_network(*args, **kwargs):
        raise AssertionError("the server tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert client.post("/api/score", json={"text": good_essay(), "prompt": PROMPT}
                       ).status_code == 200
    data = class_zip({"ESSAY_1": good_essay()})
    assert client.post("/api/score-batch", files={"file": ("c.zip", data)}).status_code == 200
    assert not (tmp_path / "cache").exists()
