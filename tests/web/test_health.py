from litestar import Litestar
from litestar.testing import TestClient


def test_health_reports_database_round_trip(client: TestClient[Litestar]) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_unknown_api_path_is_problem_details_in_dutch(client: TestClient[Litestar]) -> None:
    response = client.get("/api/v1/bestaat-niet")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 404
    assert body["detail"] == "De pagina of het gegeven dat u zoekt bestaat niet."


def test_security_headers_are_set(client: TestClient[Litestar]) -> None:
    response = client.get("/health")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_unknown_host_is_refused(app: Litestar) -> None:
    with TestClient(app=app, base_url="http://evil.example") as other:
        assert other.get("/health").status_code == 400


def test_host_with_the_base_url_port_is_accepted(app: Litestar) -> None:
    # The demo serves on http://127.0.0.1:8000: browsers send "Host: 127.0.0.1:8000".
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as browser_like:
        assert browser_like.get("/health").status_code == 200
    with TestClient(app=app, base_url="http://127.0.0.1:9999") as other_port:
        assert other_port.get("/health").status_code == 400
