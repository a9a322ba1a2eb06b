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
    wanted |= {"ItemStatus", "Heartbeat", "HeartbeatAck", "StoreList", "ReceiptPage", "Problem"}
    assert wanted <= set(schemas), wanted - set(schemas)
    assert set(schemas["ItemStatus"]["enum"]) == {"stored", "duplicate", "conflict"}
    assert schemas["EnrollRequest"]["properties"]["code"]["examples"] == ["K7QF-9MZC"]
    security = doc["components"]["securitySchemes"]
    assert {"RegisterToken", "ApiKey", "HeadOfficeSession"} <= set(security)
