"""The OpenAPI document is the contract with agents and head office tools."""

from cloud.app import create_app
from sync.protocol import ENROLL_PATH, HEARTBEAT_PATH, batch_path, receipts_path


def test_v1_paths_and_schemas_are_in_the_contract(tmp_path: object) -> None:
    doc = create_app(f"sqlite:///{tmp_path}/c.db").openapi()
    paths = doc["paths"]
    assert "post" in paths[ENROLL_PATH]
    assert "post" in paths[HEARTBEAT_PATH]
    assert "get" in paths["/v1/stores"]
    batch = paths[batch_path(0).replace("/0/", "/{store_id}/")]["post"]
    read = paths[receipts_path(0).replace("/0/", "/{store_id}/")]["get"]
    assert {"200", "401", "403", "422"} <= set(batch["responses"])
    assert {"200", "401", "404"} <= set(read["responses"])
    assert batch["requestBody"]["content"]["application/json"]["examples"]
    assert {p["name"] for p in read["parameters"]} >= {"store_id", "after_id", "limit"}

    schemas = doc["components"]["schemas"]
    wanted = {"EnrollRequest", "EnrollResponse", "ReceiptBatch", "BatchResult", "Accepted", "Rejected"}
    wanted |= {"ItemStatus", "Heartbeat", "HeartbeatAck", "StoreList", "ReceiptPage", "ErrorBody"}
    assert wanted <= set(schemas), wanted - set(schemas)
    assert set(schemas["ItemStatus"]["enum"]) == {"stored", "duplicate", "conflict"}
    assert schemas["EnrollRequest"]["properties"]["code"]["examples"] == ["K7QF-9MZC"]
    security = doc["components"]["securitySchemes"]
    assert {"RegisterToken", "ApiKey", "HeadOfficeSession"} <= set(security)


def test_ingest_and_delivery_routes_declare_their_error_answers_as_error_body(tmp_path: object) -> None:
    """Each route says which errors it can answer, all in the one shape (`cloud.errors.ErrorBody`)."""
    doc = create_app(f"sqlite:///{tmp_path}/c.db").openapi()
    checked = 0
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            if not {"ingest", "delivery"} & set(op.get("tags", ())):
                continue
            errors = {code: r for code, r in op["responses"].items() if code.startswith(("4", "5"))}
            assert "401" in errors, f"{method} {path} does not declare 401"
            for code, answer in errors.items():
                if code == "422" and "ErrorBody" not in str(answer):
                    continue  # FastAPI's own validation error document where no body is declared
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorBody"), f"{method} {path} {code}: {ref}"
            checked += 1
    assert checked >= 7


def test_promo_routes_are_in_the_contract(tmp_path: object) -> None:
    doc = create_app(f"sqlite:///{tmp_path}/c.db").openapi()
    paths = doc["paths"]
    redeem = paths["/v1/promo/redeem"]["post"]
    assert {"200", "401", "403", "404", "409", "410", "422"} <= set(redeem["responses"])
    for code in ("404", "409", "410"):
        assert redeem["responses"][code]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorBody"
        )
    assert "promo_already_redeemed" in redeem["description"]
    assert {"200", "401", "404"} <= set(paths["/v1/promo/check"]["post"]["responses"])
    assert "put" in paths["/v1/promo/rules/{name}"]
    assert "get" in paths["/v1/promo/stats"]
    schemas = doc["components"]["schemas"]
    assert {"RedeemIn", "RedeemOut", "CodeOut", "RuleIn", "RuleOut", "StatsOut"} <= set(schemas)
    assert "idempotency_key" in schemas["RedeemIn"]["required"]
