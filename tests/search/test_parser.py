"""The search formula parser: every filter, operator and alias, precedence, quoting, the
error messages with their caret lines, the limits, and fuzzing (spec/API.md section 6)."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixsearch.errors import QuerySyntaxError
from pixsearch.search.nodes import (
    DUPLICATE_MAX_DISTANCE,
    And,
    BoolFilter,
    ColorFilter,
    DateFilter,
    IdFilter,
    ImageDuplicate,
    ImageSimilar,
    NamedPerson,
    Node,
    Not,
    NumberFilter,
    Or,
    OrientationFilter,
    PersonFilter,
    SetFilter,
    TextFieldFilter,
    TextFilter,
    iter_nodes,
    similarity_filters,
)
from pixsearch.search.parser import MAX_NESTING, parse_formula
from pixsearch.vocabulary.fields import LABEL_FIELDS, PROSE_FIELDS


def parse(text: str) -> Node:
    node = parse_formula(text)
    assert node is not None
    return node


def error_of(text: str, **kwargs: int) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_formula(text, **kwargs)
    return caught.value


CAR = TextFilter("~", "car")
D2020 = DateFilter(">", datetime.date(2020, 1, 1))
W = NumberFilter("width", ">", (10,))

# --- Every filter, acronym and operator --------------------------------------------------

FILTERS = [
    # Text
    *(
        (f"{name}{op}a red car", TextFilter(op, "a red car"))
        for name in ("t", "txt", "text")
        for op in ("~", "~~", "~~~")
    ),
    # Image: similar and duplicates
    *(
        (f"{name}{op}img42", ImageSimilar(op, "img42"))
        for name in ("i", "img", "image")
        for op in ("~", "~~", "~~~")
    ),
    *(
        (f"{name}{op}img42", ImageDuplicate(op, "img42"))
        for name in ("i", "img", "image")
        for op in ("=", "==", "===")
    ),
    # Person
    ("p~img42_1", PersonFilter("~", "img42", 1)),
    ("person~~a_b_12", PersonFilter("~~", "a_b", 12)),
    ("p~~~x_0", PersonFilter("~~~", "x", 0)),
    ("p=Ada Lovelace", NamedPerson("~~", "Ada Lovelace")),
    ("person=ada lovelace ~~~", NamedPerson("~~~", "ada lovelace")),
    ('p="Ada, Countess of Lovelace~"', NamedPerson("~", "Ada, Countess of Lovelace")),
    # Date, with every comparison and alias
    ("d=2005-5-13", DateFilter("=", datetime.date(2005, 5, 13))),
    ("date<2024-02-29", DateFilter("<", datetime.date(2024, 2, 29))),
    ("d>2020-01-01", D2020),
    ("d<=2020-1-1", DateFilter("<=", datetime.date(2020, 1, 1))),
    ("d=<2020-1-1", DateFilter("<=", datetime.date(2020, 1, 1))),
    ("d≤2020-1-1", DateFilter("<=", datetime.date(2020, 1, 1))),
    ("d>=2020-1-1", DateFilter(">=", datetime.date(2020, 1, 1))),
    ("d=>2020-1-1", DateFilter(">=", datetime.date(2020, 1, 1))),
    ("d≥2020-1-1", DateFilter(">=", datetime.date(2020, 1, 1))),
    # Id
    ("id=img42", IdFilter("=", ("img42",))),
    ("image_id=img42", IdFilter("=", ("img42",))),
    ("id<100", IdFilter("<", ("100",))),
    ("id>=a", IdFilter(">=", ("a",))),
    ("id∩1,2, x y ", IdFilter("any", ("1", "2", "x y"))),
    ("id=|1,2", IdFilter("any", ("1", "2"))),
    ("id=a,b", IdFilter("=", ("a,b",))),  # one value: ids may contain commas
    # Numbers
    ("r=1.5", NumberFilter("aspect_ratio", "=", (1.5,))),
    ("ratio>16/9", NumberFilter("aspect_ratio", ">", (16 / 9,))),
    ("aspect_ratio<.5", NumberFilter("aspect_ratio", "<", (0.5,))),
    ("r∩1, 1.5,2e0", NumberFilter("aspect_ratio", "any", (1.0, 1.5, 2.0))),
    ("n=0", NumberFilter("n_faces", "=", (0,))),
    ("n_people>=2", NumberFilter("n_faces", ">=", (2,))),
    ("n_faces∩1,2", NumberFilter("n_faces", "any", (1, 2))),
    ("w>10", W),
    ("width<=1920", NumberFilter("width", "<=", (1920,))),
    ("h≥1080", NumberFilter("height", ">=", (1080,))),
    ("height=|480,720", NumberFilter("height", "any", (480, 720))),
    # Booleans
    ("ai=true", BoolFilter("ai_generated", True)),
    ("ai_generated=0", BoolFilter("ai_generated", False)),
    ("nsfw=FALSE", BoolFilter("nsfw", False)),
    ("mr=1", BoolFilter("model_release", True)),
    ("model_release=false", BoolFilter("model_release", False)),
    ("pr=True", BoolFilter("property_release", True)),
    ("property_release=0", BoolFilter("property_release", False)),
    # Sets
    ("k=red,car", SetFilter("keywords", "all", ("red", "car"))),
    ("key∩red, car", SetFilter("keywords", "any", ("red", "car"))),
    ("keywords=|red", SetFilter("keywords", "any", ("red",))),
    ("k~ca", SetFilter("keywords", "prefix", ("ca",))),
    ("k~washington, d", SetFilter("keywords", "prefix", ("washington, d",))),
    ("c=Travel", SetFilter("categories", "all", ("Travel",))),
    ("cat∩a,b", SetFilter("categories", "any", ("a", "b"))),
    ("categories~tra", SetFilter("categories", "prefix", ("tra",))),
    ("col=summer 2024", SetFilter("collections", "all", ("summer 2024",))),
    ("collections∩a", SetFilter("collections", "any", ("a",))),
    ("tag=shoe,footwear", SetFilter("tags", "all", ("shoe", "footwear"))),
    ("tags∩shoe", SetFilter("tags", "any", ("shoe",))),
    ("tag=|a,b", SetFilter("tags", "any", ("a", "b"))),
    ("tag~foot", SetFilter("tags", "prefix", ("foot",))),
    # Generated text and colours
    ("ocr~hotel", TextFieldFilter("ocr_text", "prefix", "hotel")),
    ("ocr_text~lis", TextFieldFilter("ocr_text", "prefix", "lis")),
    ("color~red", ColorFilter("~", "red")),
    ("colour~~#aa3322", ColorFilter("~~", "#aa3322")),
    ("colors~~~Navy", ColorFilter("~~~", "Navy")),
    ("color=gray", ColorFilter("=", "gray")),
    # Other text fields
    ("title=Paris", TextFieldFilter("title", "fold", "Paris")),
    ("city==Paris", TextFieldFilter("city", "case", "Paris")),
    ("author===Ana Pérez", TextFieldFilter("author", "exact", "Ana Pérez")),
    ("caption~eiff", TextFieldFilter("caption", "prefix", "eiff")),
    ("country<M", TextFieldFilter("country", "<", "M")),
    ("status>A", TextFieldFilter("status", ">", "A")),
    ("event<=m", TextFieldFilter("event", "<=", "m")),
    ("event=<m", TextFieldFilter("event", "<=", "m")),
    ("shot>=m", TextFieldFilter("shot", ">=", "m")),
    ("shot≥m", TextFieldFilter("shot", ">=", "m")),
    ("title=Paris, France", TextFieldFilter("title", "fold", "Paris, France")),
    # Orientation
    ("o=landscape", OrientationFilter("landscape")),
    ("orientation=Portrait", OrientationFilter("portrait")),
    ("o=square", OrientationFilter("square")),
    # Acronyms are case-insensitive
    ("T~car", CAR),
    ("TITLE=x", TextFieldFilter("title", "fold", "x")),
]


@pytest.mark.parametrize(("formula", "expected"), FILTERS, ids=[f for f, _ in FILTERS])
def test_filter(formula: str, expected: Node) -> None:
    assert parse(formula) == expected


@pytest.mark.parametrize("field", [*PROSE_FIELDS, *LABEL_FIELDS])
def test_every_text_field_is_a_filter(field: str) -> None:
    assert parse(f"{field}~x") == TextFieldFilter(field, "prefix", "x")


# --- Combinations and precedence ----------------------------------------------------------

COMBINATIONS = [
    ("t~car && d>2020-01-01", And((CAR, D2020))),
    ("t~car || d>2020-01-01", Or((CAR, D2020))),
    ("t~car || d>2020-1-1 && w>10", Or((CAR, And((D2020, W))))),
    ("t~car && d>2020-1-1 || w>10", Or((And((CAR, D2020)), W))),
    ("(t~car || d>2020-1-1) && w>10", And((Or((CAR, D2020)), W))),
    ("!d>2020-1-1 && w>10", And((Not(D2020), W))),
    ("!(d>2020-1-1 && w>10)", Not(And((D2020, W)))),
    ("!!w>10", Not(Not(W))),
    ("! ( w>10 )", Not(W)),
    ("t~car && d>2020-1-1 && w>10", And((CAR, D2020, W))),
    ("t~car || d>2020-1-1 || w>10", Or((CAR, D2020, W))),
    ("(t~car && d>2020-1-1) && w>10", And((And((CAR, D2020)), W))),
    ("((((t~car))))", CAR),
    ("  t ~ car  &&d>2020-1-1", And((CAR, D2020))),
    ("t~car||w>10", Or((CAR, W))),
]


@pytest.mark.parametrize(("formula", "expected"), COMBINATIONS, ids=[f for f, _ in COMBINATIONS])
def test_combination(formula: str, expected: Node) -> None:
    assert parse(formula) == expected


# --- Values: bare, quoted, escaped, trimmed, lists ------------------------------------------

VALUES = [
    ("t~a red car && d>2020-01-01", "a red car"),
    ("t~   a red car   ", "a red car"),
    ("(t~red car)", "red car"),
    ("t~a\tb", "a\tb"),
    ('t~"a red car"', "a red car"),
    ('t~"  spaced  "', "  spaced  "),
    ('t~"a && b || (c)"', "a && b || (c)"),
    ('t~"say \\"hi\\""', 'say "hi"'),
    ('t~"back\\\\slash"', "back\\slash"),
    ('t~"C:\\temp"', "C:\\temp"),  # other backslashes stay as they are
    ("t~C:\\temp\\", "C:\\temp\\"),  # a bare value takes backslashes literally
    ("t~Tom & Jerry", "Tom & Jerry"),
    ("t~a | b", "a | b"),
    ("t~wow!", "wow!"),
    ("t~red, blue car", "red, blue car"),
    ("t~a,b ,  c", "a,b ,  c"),
    ("t~,", ","),
    ("t~日本の車", "日本の車"),
    ("t~100% cotton", "100% cotton"),
]


@pytest.mark.parametrize(("formula", "text"), VALUES, ids=[f for f, _ in VALUES])
def test_value(formula: str, text: str) -> None:
    node = parse(formula)
    if isinstance(node, And):
        node = node.children[0]
    assert node == TextFilter("~", text)


LISTS = [
    ("k=a,b,c", ("a", "b", "c")),
    ("k= a , b c ,d ", ("a", "b c", "d")),
    ('k="a,b",c', ("a,b", "c")),
    ('k="a" , "b\\"c"', ("a", 'b"c')),
    ('k=" a "', (" a ",)),
    ("k=a", ("a",)),
]


@pytest.mark.parametrize(("formula", "values"), LISTS, ids=[f for f, _ in LISTS])
def test_list(formula: str, values: tuple[str, ...]) -> None:
    assert parse(formula) == SetFilter("keywords", "all", values)


def test_empty_formula_is_none() -> None:
    assert parse_formula("") is None
    assert parse_formula(" \t\n\u00a0") is None


def test_a_formula_asked_again_is_not_parsed_again() -> None:
    first = parse("k=cached && t~once")
    assert parse("k=cached && t~once") is first
    assert parse("k=cached && t~twice") is not first
    # A refused formula is refused every time, with the same message.
    assert str(error_of("k=cached &&")) == str(error_of("k=cached &&"))
    # The length limit is part of what is kept: a longer limit does not reuse a refusal.
    assert error_of("k=abc", max_length=3).position is not None
    assert parse_formula("k=abc", max_length=10) == parse("k=abc")


def test_positions_are_offsets_of_each_node() -> None:
    node = parse("w>10 || !(i=car && k=a) && t~x")
    starts = [(type(n).__name__, n.position) for n in iter_nodes(node)]
    assert starts == [
        ("Or", 0),
        ("NumberFilter", 0),
        ("And", 8),
        ("Not", 8),
        ("And", 10),
        ("ImageDuplicate", 10),
        ("SetFilter", 19),
        ("TextFilter", 27),
    ]


def test_positions_do_not_take_part_in_equality() -> None:
    assert parse("  t~car") == parse("t~car")
    assert parse("  t~car").position == 2


def test_duplicate_thresholds() -> None:
    assert ImageDuplicate("=", "x").max_distance == DUPLICATE_MAX_DISTANCE["="]
    assert ImageDuplicate("==", "x").max_distance == DUPLICATE_MAX_DISTANCE["=="]
    assert DUPLICATE_MAX_DISTANCE["=="] < DUPLICATE_MAX_DISTANCE["="]
    assert ImageDuplicate("===", "x").max_distance is None


def test_id_values_that_are_numbers() -> None:
    node = parse("id∩12, 1.5, a1, -3")
    assert isinstance(node, IdFilter)
    assert node.numbers == (12.0, 1.5, None, -3.0)


def test_similarity_filters_in_formula_order() -> None:
    node = parse("(t~car || i~~img1) && d>2020-1-1 && !i=img2 && p~img3_1")
    assert similarity_filters(node) == [
        TextFilter("~", "car"),
        ImageSimilar("~~", "img1"),
        PersonFilter("~", "img3", 1),
    ]
    assert similarity_filters(parse("d>2020-1-1 && i===x")) == []
    assert similarity_filters(None) == []


def test_colour_values_are_resolved() -> None:
    near = parse("color~#ff0000")
    assert isinstance(near, ColorFilter) and near.lab is not None and near.lab[0] > 0.6
    assert near.max_distance > parse("color~~~#ff0000").max_distance  # type: ignore[union-attr]
    family = parse("colour=crimson")
    assert isinstance(family, ColorFilter) and family.family == "red"
    assert parse("color=GREY").family == parse("color=gray").family == "grey"  # type: ignore[union-attr]
    assert parse(near.to_formula()) == near


def test_canonical_formula_parses_to_the_same_tree() -> None:
    node = parse('!(k∩a,"b,c" || r>16/9) && t~"say \\"hi\\"" || title=Tom & Jerry')
    assert parse(node.to_formula()) == node
    assert str(parse("t~car && k=a,b")) == 't~"car" && k="a","b"'


# --- Errors: position, what was found, what was expected, and the caret ------------------

ERRORS = [
    # formula, 0-based position, start of the message
    ("t~car && && d>2020-1-1", 9, "unexpected '&&' at column 10: expected a filter, '!' or '('"),
    ("t~car &&", 8, "unexpected end of the formula at column 9: expected a filter"),
    ("|| t~car", 0, "unexpected '||' at column 1: expected a filter"),
    ("t~", 2, "missing value for 't~' at column 3: expected a value"),
    ("t~ && w>1", 2, "missing value for 't~' at column 3: expected a value"),
    ('t~"abc', 2, "unterminated quoted value at column 3: expected a closing '\"'"),
    ('t~"abc\\"', 2, "unterminated quoted value at column 3"),
    (
        "t~shoes (red)",
        8,
        "unexpected '(' at column 9: expected '&&', '||' or the end of the "
        "formula; quote a value that contains",
    ),
    ('t~a "b"', 4, "unexpected '\"b\"' at column 5"),
    ("t~car)", 5, "unmatched ')' at column 6: expected '&&', '||' or the end of the formula"),
    ("(t~car", 6, "unexpected end of the formula at column 7: expected ')'"),
    ("()", 1, "unexpected ')' at column 2: expected a filter"),
    ("red car", 4, "unexpected 'car' at column 5: expected an operator"),
    ("car", 3, "unexpected end of the formula at column 4: expected an operator"),
    ("t:car", 1, "unexpected ':car' at column 2: expected an operator"),
    ('t~6" screen', 3, "unexpected '\"' at column 4: expected '&&', '||' or the end of"),
    ('(t~6" screen)', 4, "unexpected '\"' at column 5: expected '&&', '||' or ')'"),
    ("5~x", 0, "unexpected '5~x' at column 1: expected a filter"),
    ("foo=1", 0, "unknown filter 'foo' at column 1: expected a filter name: t, i, p, d"),
    (
        "titel=x",
        0,
        "unknown filter 'titel' at column 1: expected a filter name (did you mean 'title'?)",
    ),
    ("src=http://x", 0, "unknown filter 'src'"),
    ("color~bleu", 6, "invalid value 'bleu' for 'color~' at column 7: expected a CSS colour"),
    ("color=#12", 6, "invalid value '#12' for 'color=' at column 7: expected a colour family"),
    ("ocr=x", 3, "filter 'ocr' does not take the operator '='"),
    ("color<red", 5, "filter 'color' does not take the operator '<'"),
    (
        "d~2020-1-1",
        1,
        "filter 'd' does not take the operator '~' at column 2: expected one of = < > <= >=",
    ),
    ("t=car", 1, "filter 't' does not take the operator '='"),
    ("k<a", 1, "filter 'k' does not take the operator '<'"),
    ("ai==true", 2, "filter 'ai' does not take the operator '=='"),
    ("o~land", 1, "filter 'o' does not take the operator '~'"),
    ("title~~x", 5, "filter 'title' does not take the operator '~~'"),
    ("d∩2020-1-1", 1, "filter 'd' does not take the operator '∩'"),
    (
        "d=2023-02-30",
        2,
        "invalid value '2023-02-30' for 'd=' at column 3: expected a date YYYY-M-D that exists",
    ),
    ("d=2023-13-01", 2, "invalid value '2023-13-01' for 'd='"),
    ("d=0000-01-01", 2, "invalid value '0000-01-01'"),
    ("d>2020", 2, "invalid value '2020' for 'd>'"),
    ("d=2020-1-1,2020-1-2", 2, "invalid value '2020-1-1,2020-1-2' for 'd='"),
    ("w>1.5", 2, "invalid value '1.5' for 'w>' at column 3: expected a whole number ≥ 0"),
    ("n=-1", 2, "invalid value '-1' for 'n='"),
    ("h<99999999999999999999", 2, "invalid value '99999999999999999999' for 'h<'"),
    ("w∩1,x", 4, "invalid value 'x' for 'w∩' at column 5"),
    ("r=abc", 2, "invalid value 'abc' for 'r=' at column 3: expected a number ≥ 0"),
    ("r=1/0", 2, "invalid value '1/0' for 'r='"),
    ("r=1e999", 2, "invalid value '1e999' for 'r='"),
    ("r=nan", 2, "invalid value 'nan' for 'r='"),
    ("ai=yes", 3, "invalid value 'yes' for 'ai=' at column 4: expected true, false, 1 or 0"),
    (
        "o=round",
        2,
        "invalid value 'round' for 'o=' at column 3: expected landscape, portrait or square",
    ),
    ("p~img42", 2, "invalid value 'img42' for 'p~' at column 3: expected <image id>_<face number>"),
    ("p~_1", 2, "invalid value '_1' for 'p~'"),
    ("k=a,,b", 4, "empty item in the list of 'k=' at column 5: expected a value"),
    ("k=a,", 4, "empty item in the list of 'k='"),
    ("k=,a", 2, "empty item in the list of 'k=' at column 3"),
    ('k=""', 2, "empty value for 'k=' at column 3: expected a non-empty value"),
    ('t~""', 2, "empty value for 't~'"),
    ('t~a,"b"', 4, "several values for 't~' at column 5: expected one value"),
    (
        "!t~car",
        1,
        "similarity filter 't~' under '!' at column 2: expected a filter that can be negated",
    ),
    ("!(w>1 && i~img1)", 9, "similarity filter 'i~' under '!'"),
    ("!(w>1 || !p~a_1)", 10, "similarity filter 'p~' under '!'"),
    ("t~a && \x01", 7, "unexpected '\\x01' at column 8"),
]


@pytest.mark.parametrize(("formula", "position", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error(formula: str, position: int, message: str) -> None:
    error = error_of(formula)
    assert error.position == position
    assert error.msg.startswith(message), error.msg
    assert error.loc == ("query", "q")


def test_error_message_shows_the_formula_and_a_caret() -> None:
    assert error_of("t~car && && d>2020-1-1").msg == (
        "unexpected '&&' at column 10: expected a filter, '!' or '('\n"
        "  t~car && && d>2020-1-1\n"
        "           ^"
    )


def test_caret_accounts_for_wide_characters_and_control_characters() -> None:
    lines = error_of("t~日本\n && && x").msg.splitlines()
    assert lines[1:] == ["  t~日本  && && x", "             ^"]


def test_long_formula_is_shown_around_the_problem() -> None:
    formula = "w>1 && " * 100 + "&& w>1 && " + "w>1 && " * 100 + "w>1"
    excerpt, caret = error_of(formula).msg.splitlines()[1:]
    assert excerpt.startswith("  …") and excerpt.endswith("…")
    assert len(excerpt) < 100
    assert excerpt[caret.index("^") :].startswith("&& w>1")


def test_too_long_formula() -> None:
    error = error_of("t~" + "a" * 100, max_length=50)
    assert error.position == 50
    assert error.msg.startswith(
        "formula of 102 characters is too long at column 51: expected at most 50 characters"
    )
    assert parse_formula("t~" + "a" * 4094) == TextFilter("~", "a" * 4094)
    assert error_of("t~" + "a" * 4095).position == 4096


@pytest.mark.parametrize("text", ["i=\x00", "t~red\x00car", "\x00"])
def test_a_nul_character_is_refused_where_it_is(text: str) -> None:
    """No stored value holds U+0000 (PostgreSQL cannot), so no filter could match one."""
    error = error_of(text)
    assert error.position == text.index("\x00")
    assert "a NUL character (U+0000)" in error.msg


def test_nesting_limit() -> None:
    deep = "(" * MAX_NESTING + "t~car" + ")" * MAX_NESTING
    assert parse(deep) == CAR
    too_deep = "(" * (MAX_NESTING + 1) + "t~car" + ")" * (MAX_NESTING + 1)
    error = error_of(too_deep)
    assert error.position == MAX_NESTING
    assert error.msg.startswith(f"nesting deeper than {MAX_NESTING} at column {MAX_NESTING + 1}")
    assert error_of("!" * 100 + "w>1").position == MAX_NESTING
    alternating = "(w>1 || !" * 40 + "w>2" + ")" * 40
    assert error_of(alternating).msg.startswith("nesting deeper than")


def test_unclosed_parentheses_do_not_recurse() -> None:
    assert error_of("(" * 4000).position == 4000


def test_long_flat_formula() -> None:
    formula = " && ".join(["w>1"] * 500)
    node = parse(formula)
    assert isinstance(node, And) and len(node.children) == 500


# --- Fuzzing: no input raises anything but QuerySyntaxError ------------------------------

PIECES = [
    *'tidkcwhnropa=~<>!&|(),"\\ ∩≤≥_-.019é日\n\t\x00',
    "&&",
    "||",
    "t~",
    "i=",
    "k=",
    "d>",
    "w∩",
    "2020-1-1",
    "true",
    "title",
    "p~",
    "col=|",
    "!(",
    "16/9",
]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.text(), st.lists(st.sampled_from(PIECES), max_size=40).map("".join)))
def test_fuzz_only_query_syntax_errors(text: str) -> None:
    try:
        node = parse_formula(text)
    except QuerySyntaxError as error:
        assert 0 <= error.position <= len(text)
        assert error.msg.count("\n") == 2
        assert f"at column {error.position + 1}:" in error.msg
    else:
        assert (node is None) == (not text.strip())
        if node is not None:
            assert parse_formula(node.to_formula()) == node


def strings() -> st.SearchStrategy[str]:
    """Any value a formula can hold: every character but NUL, which formulas refuse."""
    return st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=12)


def node_trees() -> st.SearchStrategy[Node]:
    similarity = st.sampled_from(["~", "~~", "~~~"])
    comparison = st.sampled_from(["=", "<", ">", "<=", ">="])
    integers = st.integers(min_value=0, max_value=2**63 - 1)
    reals = st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(abs)
    lists = st.lists(strings(), min_size=1, max_size=3).map(tuple)
    numbers = st.one_of(
        st.builds(NumberFilter, st.just("aspect_ratio"), comparison, reals.map(lambda r: (r,))),
        st.builds(
            NumberFilter,
            st.just("aspect_ratio"),
            st.just("any"),
            st.lists(reals, min_size=1, max_size=3).map(tuple),
        ),
        st.builds(
            NumberFilter,
            st.sampled_from(["n_faces", "width", "height"]),
            comparison,
            integers.map(lambda n: (n,)),
        ),
        st.builds(
            NumberFilter,
            st.sampled_from(["n_faces", "width", "height"]),
            st.just("any"),
            st.lists(integers, min_size=1, max_size=3).map(tuple),
        ),
    )
    plain = st.one_of(
        numbers,
        st.builds(ImageDuplicate, st.sampled_from(["=", "==", "==="]), strings()),
        st.builds(DateFilter, comparison, st.dates()),
        st.builds(IdFilter, comparison, strings().map(lambda s: (s,))),
        st.builds(IdFilter, st.just("any"), lists),
        st.builds(
            BoolFilter,
            st.sampled_from(["ai_generated", "nsfw", "model_release", "property_release"]),
            st.booleans(),
        ),
        st.builds(
            SetFilter,
            st.sampled_from(["keywords", "categories", "collections"]),
            st.sampled_from(["all", "any"]),
            lists,
        ),
        st.builds(
            SetFilter,
            st.sampled_from(["keywords", "categories", "collections"]),
            st.just("prefix"),
            strings().map(lambda s: (s,)),
        ),
        st.builds(
            TextFieldFilter,
            st.sampled_from([*PROSE_FIELDS, *LABEL_FIELDS]),
            st.sampled_from(["fold", "case", "exact", "prefix", "<", ">", "<=", ">="]),
            strings(),
        ),
        st.builds(OrientationFilter, st.sampled_from(["landscape", "portrait", "square"])),
    )
    similar = st.one_of(
        st.builds(TextFilter, similarity, strings()),
        st.builds(ImageSimilar, similarity, strings()),
        st.builds(
            PersonFilter, similarity, strings(), st.integers(min_value=0, max_value=10**9 - 1)
        ),
        st.builds(
            NamedPerson,
            similarity,
            strings().filter(lambda s: s.strip() == s != "" and not s.endswith("~")),
        ),
    )

    def combine(kids: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        many = st.lists(kids, min_size=2, max_size=3).map(tuple)
        return st.one_of(st.builds(And, many), st.builds(Or, many))

    negatable = st.recursive(
        plain, lambda kids: st.one_of(combine(kids), st.builds(Not, kids)), max_leaves=4
    )
    return st.recursive(
        st.one_of(plain, similar),
        lambda kids: st.one_of(combine(kids), st.builds(Not, negatable)),
        max_leaves=6,
    )


@settings(max_examples=300, deadline=None)
@given(node_trees())
def test_every_tree_round_trips_through_its_formula(node: Node) -> None:
    formula = node.to_formula()
    assert parse_formula(formula, max_length=100_000) == node
