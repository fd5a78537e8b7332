from migrator.items import canonical_number, key_id, key_of, key_projection, key_text, renamed


def test_key_id_is_the_same_for_numbers_spelt_differently():
    """Two servers returning 1.50 and 1.5, or 100 and 1E+2, name the same key."""
    names = ("pk", "sk")
    assert key_id({"pk": {"S": "a"}, "sk": {"N": "1.50"}}, names) == \
        key_id({"sk": {"N": "1.5"}, "pk": {"S": "a"}}, names)
    assert key_id({"pk": {"N": "100"}}, ("pk",)) == key_id({"pk": {"N": "1E+2"}}, ("pk",))
    assert key_id({"pk": {"S": "1"}}, ("pk",)) != key_id({"pk": {"N": "1"}}, ("pk",))
    assert key_id({"pk": {"B": "AA=="}}, ("pk",)) != key_id({"pk": {"B": "AQ=="}}, ("pk",))


def test_canonical_number_keeps_non_numbers_and_zero_has_one_spelling():
    """'-0' and '0.00' are '0'; text that is not a number is left as it is."""
    assert canonical_number("-0") == canonical_number("0.00") == "0"
    assert canonical_number("not a number") == "not a number"


def test_key_of_and_key_text_keep_the_wire_format():
    """The key of an item is its key attributes in wire format, shown as compact JSON."""
    item = {"pk": {"S": "a"}, "sk": {"N": "7"}, "v": {"S": "x"}}
    assert key_of(item, ("pk", "sk")) == {"pk": {"S": "a"}, "sk": {"N": "7"}}
    assert key_text(key_of(item, ("pk", "sk"))) == '{"pk":{"S":"a"},"sk":{"N":"7"}}'


def test_key_projection_names_every_key_attribute_through_a_placeholder():
    """Reserved words and odd names in keys work in a ProjectionExpression through #k placeholders."""
    assert key_projection(["name", "a.b"]) == {"ProjectionExpression": "#k0, #k1",
                                               "ExpressionAttributeNames": {"#k0": "name", "#k1": "a.b"}}


def test_renamed_renames_top_level_attributes_only():
    """Renames apply to attribute names, not to nested map keys; no renames is the item unchanged."""
    item = {"id": {"S": "a"}, "foo": {"M": {"foo": {"N": "1"}}}}
    assert renamed(item, {}) == item
    assert renamed(item, {"foo": "bar"}) == {"id": {"S": "a"}, "bar": {"M": {"foo": {"N": "1"}}}}
