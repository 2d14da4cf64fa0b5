"""The typed request and response bodies of the HTTP API, each with an example.

Requests are checked here before any work: types, lengths, `k` at least 1,
one of query or vector. The limits that depend on the server's settings (the
largest `k`, batch sizes) are checked by the routes, which know them.
Responses are the shapes of `query.serialize`, the serializer the CLI's
`--json` prints, described here for the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

FILTER_DOC = ("A JSON filter over item columns (id, key, text, source, position) and metadata "
              "fields: equality, $eq $ne $gt $gte $lt $lte $in $nin $contains, $and $or $not.")
WHERE_DOC = "A raw SQL condition over the items table; only when the server runs with --allow-sql."


Text = Annotated[str, Field(min_length=1)]  # a word, text or key: never empty


def _integral(value):
    """JSON Schema's integer includes 5.0: take it as 5 (the strict models refuse 5.5)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, BeforeValidator(_integral)]
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1


class Strict(BaseModel):
    """No unknown fields, and no conversions: `k: true` or `k: "5"` is an error, not 1 or 5."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Filtered(Strict):
    filter: Optional[dict[str, Any]] = Field(None, description=FILTER_DOC,
                                             examples=[{"source": "notes.txt"}])
    where: Optional[str] = Field(None, description=WHERE_DOC)


class TextSearch(Filtered):
    """How text queries on a corpus index are searched (ignored for words and vectors)."""

    mode: Optional[Literal["vector", "keyword", "hybrid"]] = Field(
        None, description="vector, keyword (BM25) or hybrid (both fused; the default on a "
                          "corpus index with a full-text index).")
    fusion: Optional[Literal["rrf", "mix"]] = Field(
        None, description="Hybrid: reciprocal-rank fusion or a min-max normalised score mix.")
    alpha: Optional[float] = Field(None, ge=0, le=1, allow_inf_nan=False,
                                   description="Hybrid: the vector list's weight (0 to 1).")
    chunks: bool = Field(False, description="Raw chunks instead of one best chunk per document.")


class NeighborsRequest(TextSearch):
    query: Optional[str] = Field(None, min_length=1, description="A word, a text or an item key.")
    vector: Optional[list[float]] = Field(None, description="A raw query vector (any length "
                                          "scale; it is normalised), of the index's dimension.")
    k: Integer = Field(10, ge=1, description="How many neighbours.")
    exclude: list[Text] = Field(default_factory=list, description="Item keys never to return.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"query": "computer", "k": 10}, {"query": "river bank", "k": 5,
                                                      "exclude": ["river"]}],
        "oneOf": [{"required": ["query"], "properties": {"query": {"type": "string"}}},
                  {"required": ["vector"], "properties": {"vector": {"type": "array"}}}]})

    @model_validator(mode="after")
    def one_query(self):
        if (self.query is None) == (self.vector is None):
            raise ValueError("give exactly one of query (a word, text or key) and vector")
        return self


class AnalogyRequest(Filtered):
    a: Optional[Text] = Field(None, description="a (is to b)")
    b: Optional[Text] = Field(None, description="b")
    c: Optional[Text] = Field(None, description="as c is to ?")
    positive: list[Text] = Field(default_factory=list, description="The general form: terms added.")
    negative: list[Text] = Field(default_factory=list, description="Terms subtracted.")
    method: Literal["add", "mul"] = Field("add", description="add = 3CosAdd, mul = 3CosMul.")
    k: Integer = Field(10, ge=1)

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"a": "man", "b": "king", "c": "woman", "k": 5},
                     {"positive": ["king", "woman"], "negative": ["man"], "method": "mul"}],
        "oneOf": [{"required": ["a", "b", "c"],
                   "properties": {**{t: {"type": "string"} for t in "abc"},
                                  "positive": {"maxItems": 0}, "negative": {"maxItems": 0}}},
                  {"required": ["positive"],
                   "properties": {**{t: {"type": "null"} for t in "abc"},
                                  "positive": {"minItems": 1}}}]})

    @model_validator(mode="after")
    def one_form(self):
        triple = [self.a, self.b, self.c]
        if any(t is not None for t in triple):
            if any(t is None for t in triple) or self.positive or self.negative:
                raise ValueError("give a, b and c, or positive (and negative) lists, not both")
        elif not self.positive:
            raise ValueError("give a, b and c (a : b :: c : ?), or a positive list")
        return self


class SimilarityRequest(Strict):
    terms: list[Text] = Field(..., min_length=2, description="Two words or texts (a score), or "
                                                            "more (a matrix).")
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"terms": ["king", "queen"]}, {"terms": ["king", "queen", "prince"]}]})


class DoesntMatchRequest(Strict):
    words: list[Text] = Field(..., min_length=2, description="Words, one of which is the odd one.")
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"words": ["breakfast", "cereal", "dinner", "lunch"]}]})


class SearchRequest(TextSearch):
    queries: list[Union[Text, list[float]]] = Field(
        ..., min_length=1, description="Words, texts, item keys or raw vectors, answered together.")
    k: Integer = Field(10, ge=1)
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"queries": ["computer", "river bank", "king"], "k": 5}]})


class ProjectionRequest(Filtered):
    query: Optional[str] = Field(None, min_length=1, description="Centre of the map; with none, "
                                                                 "a sample of the index.")
    k: Integer = Field(50, ge=1, description="Neighbours of the query on the map.")
    terms: list[Text] = Field(default_factory=list, description="More terms to place "
                                                               "(e.g. an analogy's).")
    sample: Integer = Field(0, ge=0, description="Without a query: how many items to sample.")
    method: Literal["pca", "umap"] = "pca"
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"query": "computer", "k": 30}, {"sample": 500}]})


MAX_TERM_CHARS = 1000  # an axis end or the axes' query: a word, a phrase or a short text
Pole = Annotated[str, Field(min_length=1, max_length=MAX_TERM_CHARS)]


class Axis(Strict):
    start: Pole = Field(..., description="Where the axis starts (0): a word, text or item key.")
    end: Pole = Field(..., description="Where it ends (1).")


class AxesRequest(Filtered):
    query: Pole = Field(..., description="Centre of the neighbourhood: a word, text or item key.")
    k: Integer = Field(50, ge=1, description="Neighbours of the query on the axes.")
    x: Axis = Field(..., description="The horizontal direction, from start to end.")
    y: Axis = Field(..., description="The vertical direction, from start to end.")
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"query": "king", "k": 30, "x": {"start": "man", "end": "woman"},
         "y": {"start": "poor", "end": "rich"}}]})


class NewItem(Strict):
    key: str = Field(..., min_length=1)
    text: str = Field(..., min_length=1)
    source: str = ""
    position: Integer = Field(0, ge=INT64_MIN, le=INT64_MAX)
    metadata: dict[str, Any] = Field(default_factory=dict)


class UpsertRequest(Strict):
    items: list[NewItem] = Field(..., min_length=1)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [
        {"key": "note-1", "text": "the river bank was flooded", "metadata": {"year": 2024}}]}]})


class DeleteRequest(Strict):
    keys: list[Text] = Field(..., min_length=1)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"keys": ["note-1"]}]})


# -- responses ---------------------------------------------------------------


class Answer(BaseModel):
    """A response shape: exactly the keys the serializer writes (tests/test_server_models.py
    checks every route's actual JSON against its model, so the two cannot drift)."""

    model_config = ConfigDict(extra="forbid")


class HitModel(Answer):
    rank: int
    key: str
    score: float
    id: int
    text: Optional[str] = None
    source: Optional[str] = None
    position: Optional[int] = None
    metadata: Optional[dict[str, Any]] = None
    # A text search on a corpus index: the hit's document, its chunk, and how it was found.
    document: Optional[str] = None
    item_key: Optional[str] = None
    chunk: Optional[int] = None
    start: Optional[int] = None
    end: Optional[int] = None
    snippet: Optional[str] = None
    highlights: Optional[list[list[int]]] = None
    vector: Optional[dict[str, float]] = None
    keyword: Optional[dict[str, float]] = None
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"rank": 1, "key": "computers", "score": 0.916, "id": 1841}]})


class ScoreMatrix(Answer):
    """Every pair's cosine; with two terms also their one `score`; the words that were ignored."""

    terms: list[str]
    matrix: list[list[float]]
    score: float | None = None
    ignored: list[str] = []


class OddOneOut(Answer):
    words: list[str]
    odd_one_out: str
    ignored: list[str] = []


class SearchResponse(Answer):
    results: list[list[HitModel]]


class MapPoint(Answer):
    key: str
    x: float
    y: float
    role: Literal["query", "neighbor", "term", "sample"]
    score: Optional[float] = None
    id: Optional[int] = None
    text: Optional[str] = None
    source: Optional[str] = None
    position: Optional[int] = None
    metadata: Optional[dict[str, Any]] = None


class ProjectionResponse(Answer):
    method: str
    points: list[MapPoint]


class AxesResponse(Answer):
    """Points placed along two directions: x (and y) is 0 at its axis's start and 1 at its end;
    `axes_cosine` is the cosine of the two directions (0 when they are independent)."""

    method: Literal["axes"]
    points: list[MapPoint]
    axes_cosine: float
    ignored: list[str] = []


class IndexSummary(Answer):
    name: str
    count: Optional[int] = None
    dim: Optional[int] = None
    content: Optional[str] = None
    encoder: Optional[str] = None
    index_type: Optional[str] = None
    updated_at: Optional[str] = None
    error: Optional[str] = None


class WriteReport(Answer):
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    missing: list[str] = Field(default_factory=list)
    skipped: dict[str, int] = Field(default_factory=dict)
    count: int
    version: str


class ErrorBody(Answer):
    code: str
    message: str


class ErrorResponse(Answer):
    error: ErrorBody
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"error": {"code": "unknown_term", "message": "not in index glove: 'qwzx'"}}]})
