"""evaluate's check on the spread of a model's test outputs: a model that says one thing to every input is named."""

from tasks.evaluate import describe_outputs, warn_collapsed


def test_spread_of_outputs_beside_the_references():
    found = describe_outputs(["a", "a", "a", "b"], ["a", "b", "c", "d"])
    assert found == {"eval_distinct_output_share": 0.5, "eval_top_output_share": 0.75, "eval_top_reference_share": 0.25}
    assert describe_outputs([], None) == {}


def test_one_output_for_most_rows_is_warned_unless_the_references_are_as_skewed():
    collapsed = describe_outputs(["200001"] * 9 + ["re: gas"], [f"subject {i}" for i in range(10)])
    (warning,) = warn_collapsed(collapsed, "200001")
    assert "'200001', is 90% of the test predictions (the most common reference: 10%)" in warning
    skewed = describe_outputs(["pos"] * 8 + ["neg"] * 2, ["pos"] * 7 + ["neg"] * 3)  # a majority class, predicted
    assert warn_collapsed(skewed, "pos") == []
    varied = describe_outputs([f"out {i}" for i in range(10)], None)
    assert warn_collapsed(varied, "out 0") == []
    assert warn_collapsed(describe_outputs(["same"] * 10, None), "same"), "no references: over half is enough"
