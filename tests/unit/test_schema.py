import pytest

from migrator.errors import ConfigError, SchemaError
from migrator.schema import _info, check_same_key_schema, create_request


def source_description(billing="PROVISIONED"):
    desc = {
        "TableName": "src",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"},
                                 {"AttributeName": "g", "AttributeType": "S"}],
        "ItemCount": 10, "TableSizeBytes": 1000, "TableStatus": "ACTIVE",
        "GlobalSecondaryIndexes": [{
            "IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}, "IndexStatus": "ACTIVE",
            "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4, "NumberOfDecreasesToday": 0},
        }],
        "LocalSecondaryIndexes": [{
            "IndexName": "by_sk2", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                 {"AttributeName": "g", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}, "IndexSizeBytes": 0,
        }],
    }
    if billing == "PROVISIONED":
        desc["ProvisionedThroughput"] = {"ReadCapacityUnits": 10, "WriteCapacityUnits": 20}
        desc["BillingModeSummary"] = {"BillingMode": "PROVISIONED"}
    else:
        desc["ProvisionedThroughput"] = {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
        desc["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST"}
    return desc


def test_provisioned_source_is_copied_with_its_capacity_and_indexes():
    """Keys, attribute definitions, GSI (with its capacity) and LSI carry over; describe-only fields do not."""
    request = create_request(_info(source_description()), "dst", None)
    assert request["TableName"] == "dst"
    assert request["BillingMode"] == "PROVISIONED"
    assert request["ProvisionedThroughput"] == {"ReadCapacityUnits": 10, "WriteCapacityUnits": 20}
    assert request["GlobalSecondaryIndexes"] == [{
        "IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
    }]
    assert request["LocalSecondaryIndexes"][0]["IndexName"] == "by_sk2"
    assert "IndexSizeBytes" not in request["LocalSecondaryIndexes"][0]


def test_billing_mode_override_to_on_demand_drops_capacity():
    """target.billingMode PAY_PER_REQUEST creates an on-demand table without capacity anywhere."""
    request = create_request(_info(source_description()), "dst", "PAY_PER_REQUEST")
    assert request["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in request
    assert all("ProvisionedThroughput" not in g for g in request["GlobalSecondaryIndexes"])


def test_provisioned_override_of_an_on_demand_source_is_refused():
    """PROVISIONED needs numbers an on-demand source does not have: a clear error, not a failed CreateTable."""
    with pytest.raises(ConfigError, match="target.billingMode: PROVISIONED needs capacity"):
        create_request(_info(source_description("PAY_PER_REQUEST")), "dst", "PROVISIONED")


def test_key_schema_mismatch_names_both_schemas():
    """A target keyed differently from the source is refused with both key schemas in the message."""
    other = source_description()
    other["TableName"] = "dst"
    other["AttributeDefinitions"][1]["AttributeType"] = "S"
    with pytest.raises(SchemaError, match=r"has key schema \(pk HASH S, sk RANGE S\) but source table 'src' has "
                                          r"\(pk HASH S, sk RANGE N\)"):
        check_same_key_schema(_info(source_description()), _info(other))
