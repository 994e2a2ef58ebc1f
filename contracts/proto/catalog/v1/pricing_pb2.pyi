from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QuoteSkusRequest(_message.Message):
    __slots__ = ("skus",)
    SKUS_FIELD_NUMBER: _ClassVar[int]
    skus: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, skus: _Optional[_Iterable[str]] = ...) -> None: ...

class SkuQuote(_message.Message):
    __slots__ = ("sku", "name", "price", "currency", "available")
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    sku: str
    name: str
    price: str
    currency: str
    available: int
    def __init__(self, sku: _Optional[str] = ..., name: _Optional[str] = ..., price: _Optional[str] = ..., currency: _Optional[str] = ..., available: _Optional[int] = ...) -> None: ...

class QuoteSkusResponse(_message.Message):
    __slots__ = ("quotes", "unknown_skus")
    QUOTES_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_SKUS_FIELD_NUMBER: _ClassVar[int]
    quotes: _containers.RepeatedCompositeFieldContainer[SkuQuote]
    unknown_skus: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, quotes: _Optional[_Iterable[_Union[SkuQuote, _Mapping]]] = ..., unknown_skus: _Optional[_Iterable[str]] = ...) -> None: ...
