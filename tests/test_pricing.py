"""bench/pricing.py: DynamoDB's item size rule and the price of each request, against moto in-process."""
from __future__ import annotations

import uuid

import pytest

from bench.pricing import Meter, item_size, meter_backend, number_size, read_units, write_units

# -- the size rule --------------------------------------------------------------------------------

@pytest.mark.parametrize("item, size", [
    pytest.param({"name": {"S": "abc"}}, 4 + 3, id="string"),
    pytest.param({"é": {"S": "€uro"}}, 2 + 6, id="utf-8-name-and-value"),
    pytest.param({"n": {"N": "123"}}, 1 + 2 + 1, id="number-3-digits"),
    pytest.param({"n": {"N": "1200"}}, 1 + 1 + 1, id="number-trailing-zeroes-trimmed"),
    pytest.param({"n": {"N": "0.0012"}}, 1 + 1 + 1, id="number-leading-zeroes-trimmed"),
    pytest.param({"n": {"N": "-1693900000.125"}}, 1 + 7 + 1, id="number-13-significant-digits"),
    pytest.param({"n": {"N": "0"}}, 1 + 1, id="zero"),
    pytest.param({"b": {"B": b"\x00" * 10}}, 1 + 10, id="binary-raw-bytes"),
    pytest.param({"b": {"B": "AAEC"}}, 1 + 3, id="binary-as-base64-on-the-wire"),
    pytest.param({"t": {"BOOL": True}, "z": {"NULL": True}}, 2 + 2, id="bool-and-null"),
    pytest.param({"l": {"L": [{"S": "ab"}, {"N": "7"}]}}, 1 + 3 + (1 + 2) + (1 + 2), id="list"),
    pytest.param({"m": {"M": {"k": {"S": "v"}, "kk": {"N": "10"}}}}, 1 + 3 + (1 + 1 + 1) + (1 + 2 + 2), id="map"),
    pytest.param({"m": {"M": {}}}, 1 + 3, id="empty-map"),
    pytest.param({"m": {"M": {"in": {"L": [{"BOOL": False}]}}}}, 1 + 3 + (1 + 2 + 3 + (1 + 1)), id="nested"),
    pytest.param({"s": {"SS": ["a", "bc"]}, "ns": {"NS": ["1", "100"]}}, (1 + 3) + (2 + 2 + 2), id="sets"),
])
def test_item_size_follows_the_documented_rule(item, size):
    assert item_size(item) == size


def test_number_size_counts_significant_digits_in_pairs():
    assert [number_size(n) for n in ("1", "12", "123", "1234", "1e5", "12.5")] == [2, 2, 3, 3, 2, 3]


@pytest.mark.parametrize("size, units", [(0, 1), (1, 1), (1024, 1), (1025, 2), (1500, 2), (400 * 1024, 400)])
def test_write_units_round_up_to_kilobytes(size, units):
    assert write_units(size) == units


@pytest.mark.parametrize("size, consistent, units", [(0, True, 1), (4096, True, 1), (4097, True, 2),
                                                     (4097, False, 1), (100, False, 0.5)])
def test_read_units_round_up_to_4_kilobytes_halved_when_eventually_consistent(size, consistent, units):
    assert read_units(size, consistent) == units


# -- pricing at the wire --------------------------------------------------------------------------

@pytest.fixture
def dynamodb(moto_aws):
    import boto3

    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def table(dynamodb):
    """A table keyed pk (hash) + sk (range), and a GSI on (g, t) projecting keys only."""
    name = f"priced-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t}
                              for a, t in (("pk", "S"), ("sk", "N"), ("g", "S"), ("t", "N"))],
        GlobalSecondaryIndexes=[{"IndexName": "ByG", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                               {"AttributeName": "t", "KeyType": "RANGE"}]}],
    )
    return name


@pytest.fixture(params=[False, True], ids=["reads-before-writes", "trusts-own-writes"])
def meter(request):
    """A meter either way of knowing an item before a write: the prices must not differ."""
    return Meter(trust_own_writes=request.param)


@pytest.fixture
def metered(moto_aws, meter):
    """The client the code under test uses, with the meter attached (`dynamodb` stays unmetered)."""
    import boto3

    return meter.attach(boto3.client("dynamodb", region_name="us-east-1"))


def item(size: int, sk: int = 1, **extra: dict) -> dict:
    base = {"pk": {"S": "k"}, "sk": {"N": str(sk)}, **extra}
    filler = size - item_size(base) - len("d")
    base["d"] = {"S": "x" * filler}
    assert item_size(base) == size
    return base


def units(meter: Meter, table: str, kind: str = "write_units") -> float:
    return meter.report()["tables"].get(table, {}).get(kind, 0)


def test_a_1500_byte_put_costs_2_write_units(metered, meter, table):
    # GIVEN a new item of 1,500 bytes WHEN it is put THEN ceil(1500 / 1024) = 2
    metered.put_item(TableName=table, Item=item(1500))
    report = meter.report()
    assert report["write_units"] == 2
    assert report["tables"][table]["items_written"] == 1
    assert report["operations"]["PutItem"]["requests"] == 1
    assert report["largest_write"] == {"bytes": 1500, "table": table, "key": "pk=k, sk=1"}


def test_the_same_put_in_a_transaction_costs_double(metered, meter, table):
    metered.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": item(1500)}}])
    assert meter.report()["write_units"] == 4


def test_an_update_costs_the_larger_of_before_and_after(dynamodb, metered, meter, table):
    # GIVEN a 3,000-byte item (not metered)
    dynamodb.put_item(TableName=table, Item=item(3000))
    key = {"pk": {"S": "k"}, "sk": {"N": "1"}}
    # WHEN one counter is added THEN the whole item is billed: 3 units, however small the change
    metered.update_item(TableName=table, Key=key, UpdateExpression="ADD c :one",
                        ExpressionAttributeValues={":one": {"N": "1"}})
    assert units(meter, table) == 3
    # WHEN the big attribute is removed THEN the item before (3 KB) is billed
    meter.reset()
    metered.update_item(TableName=table, Key=key, UpdateExpression="REMOVE d")
    assert units(meter, table) == 3
    # WHEN the now small item grows to 5,000 bytes THEN the item after is billed
    meter.reset()
    metered.update_item(TableName=table, Key=key, UpdateExpression="SET d = :d",
                        ExpressionAttributeValues={":d": {"S": "y" * 4980}})
    assert units(meter, table) == 5


def test_a_put_replacing_a_larger_item_costs_the_larger(dynamodb, metered, meter, table):
    dynamodb.put_item(TableName=table, Item=item(2500))
    metered.put_item(TableName=table, Item=item(100))
    assert units(meter, table) == 3


def test_a_delete_costs_the_deleted_item_and_a_missing_one_costs_1(dynamodb, metered, meter, table):
    dynamodb.put_item(TableName=table, Item=item(2500))
    metered.delete_item(TableName=table, Key={"pk": {"S": "k"}, "sk": {"N": "1"}})
    metered.delete_item(TableName=table, Key={"pk": {"S": "k"}, "sk": {"N": "2"}})
    assert units(meter, table) == 3 + 1


def test_a_failed_conditional_write_still_costs_the_existing_item(dynamodb, metered, meter, table):
    # GIVEN a 2,500-byte item WHEN a put conditioned on its absence fails THEN 3 units are billed anyway
    dynamodb.put_item(TableName=table, Item=item(2500))
    with pytest.raises(metered.exceptions.ConditionalCheckFailedException):
        metered.put_item(TableName=table, Item=item(100), ConditionExpression="attribute_not_exists(pk)")
    # AND an update conditioned on a missing item costs the minimum
    with pytest.raises(metered.exceptions.ConditionalCheckFailedException):
        metered.update_item(TableName=table, Key={"pk": {"S": "k"}, "sk": {"N": "9"}},
                            UpdateExpression="ADD c :one", ConditionExpression="attribute_exists(pk)",
                            ExpressionAttributeValues={":one": {"N": "1"}})
    report = meter.report()
    assert report["tables"][table]["write_units"] == 3 + 1
    assert report["tables"][table]["failed_writes"] == 2
    assert report["failed_requests"] == 2
    assert report["largest_write"] is None


def test_a_create_only_put_is_not_read_before(metered, meter, table):
    # GIVEN a put conditioned on the item's absence WHEN it succeeds THEN nothing was there to read
    metered.put_item(TableName=table, Item=item(1500), ConditionExpression="attribute_not_exists(#k)",
                     ExpressionAttributeNames={"#k": "pk"})
    report = meter.report()
    assert (report["write_units"], report["meter_lookups"]) == (2, 0)
    # WHEN the same put fails THEN the item it found is read afterwards and billed
    with pytest.raises(metered.exceptions.ConditionalCheckFailedException):
        metered.put_item(TableName=table, Item=item(100), ConditionExpression="attribute_not_exists(pk)")
    assert meter.report()["write_units"] == 2 + 2


def test_batch_write_bills_each_item(metered, meter, table):
    metered.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item(1500, sk=i)}} for i in range(3)]})
    report = meter.report()
    assert report["tables"][table] | {"write_units": 6, "items_written": 3, "requests": 1} == report["tables"][table]
    assert report["operations"]["BatchWriteItem"]["requests"] == 1


def test_a_condition_check_in_a_transaction_costs_a_transactional_read(dynamodb, metered, meter, table):
    # GIVEN a 5,000-byte item WHEN a transaction checks it and puts a 1,500-byte item
    dynamodb.put_item(TableName=table, Item=item(5000, sk=1))
    metered.transact_write_items(TransactItems=[
        {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "k"}, "sk": {"N": "1"}},
                            "ConditionExpression": "attribute_exists(pk)"}},
        {"Put": {"TableName": table, "Item": item(1500, sk=2)}},
    ])
    # THEN the check reads 2 x ceil(5000 / 4096) = 4 units and the put writes 2 x 2 = 4
    assert units(meter, table, "read_units") == 4
    assert units(meter, table) == 4


def test_get_item_reads_the_full_item_halved_when_eventually_consistent(dynamodb, metered, meter, table):
    dynamodb.put_item(TableName=table, Item=item(5000))
    key = {"pk": {"S": "k"}, "sk": {"N": "1"}}
    metered.get_item(TableName=table, Key=key, ConsistentRead=True)
    assert units(meter, table, "read_units") == 2
    meter.reset()
    metered.get_item(TableName=table, Key=key, ProjectionExpression="pk")  # a projection is not cheaper
    assert units(meter, table, "read_units") == 1
    meter.reset()
    metered.get_item(TableName=table, Key={"pk": {"S": "k"}, "sk": {"N": "2"}})  # a miss still costs
    assert units(meter, table, "read_units") == 0.5
    assert meter.report()["largest_read"] is None


def test_batch_get_rounds_each_item_up_before_summing(dynamodb, metered, meter, table):
    # The documented example: 1.5 KB and 6.5 KB read as 4 KB + 8 KB = 3 units, not 2.
    dynamodb.put_item(TableName=table, Item=item(1536, sk=1))
    dynamodb.put_item(TableName=table, Item=item(6656, sk=2))
    keys = [{"pk": {"S": "k"}, "sk": {"N": str(i)}} for i in (1, 2)]
    metered.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
    report = meter.report()
    assert report["tables"][table]["read_units"] == 3
    assert report["largest_read"]["bytes"] == 6656


def test_a_query_sums_the_page_then_rounds(dynamodb, metered, meter, table):
    # GIVEN three 2 KB items WHEN one query returns them THEN ceil(6 KB / 4 KB) = 2, or 1 eventually consistent
    for i in range(3):
        dynamodb.put_item(TableName=table, Item=item(2048, sk=i))
    query = {"TableName": table, "KeyConditionExpression": "pk = :k", "ExpressionAttributeValues": {":k": {"S": "k"}}}
    metered.query(**query, ConsistentRead=True)
    assert units(meter, table, "read_units") == 2
    meter.reset()
    metered.query(**query)
    assert units(meter, table, "read_units") == 1
    assert meter.report()["tables"][table]["items_read"] == 3


def test_a_filter_does_not_lower_the_price_of_a_query(dynamodb, metered, meter, table):
    for i in range(3):
        dynamodb.put_item(TableName=table, Item=item(2048, sk=i))
    response = metered.query(TableName=table, KeyConditionExpression="pk = :k", FilterExpression="sk > :big",
                             ExpressionAttributeValues={":k": {"S": "k"}, ":big": {"N": "100"}},
                             ProjectionExpression="pk", ConsistentRead=True)
    assert response["Items"] == []
    assert units(meter, table, "read_units") == 2


def test_a_query_page_is_billed_for_the_items_it_evaluated(dynamodb, metered, meter, table):
    for i in range(3):
        dynamodb.put_item(TableName=table, Item=item(2048, sk=i))
    response = metered.query(TableName=table, KeyConditionExpression="pk = :k", Limit=2, ConsistentRead=True,
                             ExpressionAttributeValues={":k": {"S": "k"}})
    assert len(response["Items"]) == 2
    assert units(meter, table, "read_units") == 1  # 4 KB


def test_index_entries_are_billed_on_the_index(metered, meter, table):
    # GIVEN an item in the index WHEN its index range key changes THEN the entry moves: delete + put
    metered.put_item(TableName=table, Item=item(1500, g={"S": "on"}, t={"N": "1"}))
    assert units(meter, f"{table}/ByG") == 1
    metered.update_item(TableName=table, Key={"pk": {"S": "k"}, "sk": {"N": "1"}}, UpdateExpression="SET t = :t",
                        ExpressionAttributeValues={":t": {"N": "2"}})
    assert units(meter, f"{table}/ByG") == 1 + 2
    # WHEN a non-projected attribute changes THEN the keys-only index is not written
    metered.update_item(TableName=table, Key={"pk": {"S": "k"}, "sk": {"N": "1"}}, UpdateExpression="SET d = :d",
                        ExpressionAttributeValues={":d": {"S": "short"}})
    assert units(meter, f"{table}/ByG") == 3
    assert units(meter, table) == 2 + 2 + 2
    # AND a query of the index is billed there on the entry's size
    metered.query(TableName=table, IndexName="ByG", KeyConditionExpression="g = :g",
                  ExpressionAttributeValues={":g": {"S": "on"}})
    assert units(meter, f"{table}/ByG", "read_units") == 0.5


def test_paused_calls_are_not_metered(metered, meter, table):
    with meter.paused():
        metered.put_item(TableName=table, Item=item(1500))
    assert meter.report()["requests"] == 0
    metered.put_item(TableName=table, Item=item(1500, sk=2))
    assert meter.report()["requests"] == 1


def test_an_unseen_write_during_a_pause_is_not_trusted(moto_aws, table):
    import boto3

    # GIVEN a meter that trusts its own writes, and a 100-byte item it wrote
    meter = Meter(trust_own_writes=True)
    client = meter.attach(boto3.client("dynamodb", region_name="us-east-1"))
    client.put_item(TableName=table, Item=item(100))
    # WHEN the item grows to 3,000 bytes while the meter is paused
    with meter.paused():
        client.put_item(TableName=table, Item=item(3000))
    # THEN the next write is priced on the item as it is, not as the meter last saw it
    meter.reset()
    client.update_item(TableName=table, Key={"pk": {"S": "k"}, "sk": {"N": "1"}}, UpdateExpression="REMOVE d")
    assert units(meter, table) == 3


def test_two_meters_on_one_client_each_see_every_call(metered, meter, table):
    other = Meter()
    other.attach(metered)
    metered.put_item(TableName=table, Item=item(1500))
    metered.put_item(TableName=table, Item=item(1500))
    assert meter.report()["write_units"] == other.report()["write_units"] == 4


def test_totals_per_table_and_operation(dynamodb, metered, meter, table):
    metered.put_item(TableName=table, Item=item(1500))
    metered.get_item(TableName=table, Key={"pk": {"S": "k"}, "sk": {"N": "1"}}, ConsistentRead=True)
    metered.describe_table(TableName=table)  # control plane: free, counted
    report = meter.report()
    assert (report["requests"], report["write_units"], report["read_units"]) == (3, 2, 1)
    assert set(report["operations"]) == {"PutItem", "GetItem", "DescribeTable"}
    assert report["tables"][table]["requests"] == 2
    assert report["unpriced"] == {} and report["meter_errors"] == 0
    meter.reset()
    assert meter.report()["requests"] == 0


def test_meter_backend_attaches_to_every_client_the_store_makes(monkeypatch, moto_aws, meter):
    import liveinsight.local.server as server
    import liveinsight.store as store
    from liveinsight.config import Settings

    settings = Settings()
    monkeypatch.setattr(store, "make_client", store.make_client)  # undone after the test
    monkeypatch.setattr(server, "make_client", server.make_client)
    meter_backend(meter)
    assert store.make_client is server.make_client
    store.make_client(settings)
    store.make_client(settings, service="dynamodbstreams")  # streams reads are free: not metered
    assert meter.clients == 1


def test_items_under_a_free_key_prefix_are_not_priced(moto_aws, table):
    import boto3

    # GIVEN a meter that leaves the local stack's stream checkpoints out (AWS keeps them for free)
    meter = Meter(free_key_prefixes=("checkpoint#",))
    client = meter.attach(boto3.client("dynamodb", region_name="us-east-1"))
    checkpoint = {"pk": {"S": "checkpoint#arn"}, "sk": {"N": "1"}, "d": {"S": "x" * 2000}}
    # WHEN it writes and reads a checkpoint, then an ordinary item
    client.put_item(TableName=table, Item=checkpoint)
    client.get_item(TableName=table, Key={"pk": {"S": "checkpoint#arn"}, "sk": {"N": "1"}}, ConsistentRead=True)
    client.put_item(TableName=table, Item=item(1500))
    # THEN only the ordinary item is priced
    report = meter.report()
    assert report["write_units"] == 2 and report["read_units"] == 0
    assert report["requests"] == 1
