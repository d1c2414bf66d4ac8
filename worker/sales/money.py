"""Money as integer minor units plus an ISO 4217 code: parsing and display, never floats.

A currency's exponent (how many minor digits it has) decides what "12.5" means: 1250 cents in
USD, an error in JPY (no minor unit). Amounts are only ever added within one currency.
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not 1/100; every other code has two minor digits.
_ZERO_DECIMAL = frozenset({
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
})
_THREE_DECIMAL = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩",
            "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "BRL": "R$", "MXN": "MX$"}
_CODE = re.compile(r"^[A-Z]{3}$")
# A plain decimal as people write it (thousands separators removed first): no exponent, no sign.
_PLAIN_DECIMAL = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
# The largest amount Titan records, in minor units, whichever way it comes in (CLI, CSV, API):
# 10 trillion dollars, far under what a bigint column or a float sum could mangle.
MAX_AMOUNT_MINOR = 10**15


def exponent(currency: str) -> int:
    """Number of minor digits of ``currency`` (2 for USD, 0 for JPY, 3 for KWD)."""
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


@functools.cache
def currencies_in_use() -> frozenset[str]:
    """ISO 4217 codes that are legal tender somewhere today, from CLDR (via Babel).

    Codes that are not money (XXX "no currency", XTS "testing", XAU gold, XDR) and retired
    ones (DEM) are not in it.
    """
    from babel.core import get_global
    from babel.numbers import get_territory_currencies

    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, tender=True))
    return frozenset(codes)


def normalize_currency(value: str) -> str:
    """``"usd "`` -> ``"USD"``; anything but the ISO 4217 code of a currency in use is a
    ValueError."""
    code = value.strip().upper()
    if not _CODE.match(code):
        raise ValueError(f"{value!r} is not a three-letter ISO currency code")
    if code not in currencies_in_use():
        raise ValueError(f"{code!r} is not the ISO 4217 code of a currency in use "
                         "(e.g. USD, EUR, JPY)")
    return code


def parse_amount(value: str | int | Decimal, currency: str) -> int:
    """A major-unit amount as people write it ("1,299.00", "12.5") -> minor units (129900).

    More decimals than the currency has is an error rather than a silent rounding; so is an
    exponent ("1e5"), and an amount over MAX_AMOUNT_MINOR.
    """
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    else:
        text = str(value).strip().replace(",", "").replace("_", "")
        if not text:
            raise ValueError("is empty")
        if text.startswith("-") and _PLAIN_DECIMAL.match(text[1:]):
            raise ValueError("must not be negative (record a refund with status 'refunded')")
        if not _PLAIN_DECIMAL.match(text):
            raise ValueError(f"{value!r} is not a number written as a plain decimal, "
                             "such as 129.00")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a number")
    if number < 0:
        raise ValueError("must not be negative (record a refund with status 'refunded')")
    digits = exponent(currency)
    minor = number.scaleb(digits)
    if minor != minor.to_integral_value():
        raise ValueError(f"{value!r} has more than {digits} decimal places for {currency}")
    if minor > MAX_AMOUNT_MINOR:
        raise ValueError(f"{value!r} is more than the largest amount Titan records "
                         f"({format_money(MAX_AMOUNT_MINOR, currency)})")
    return int(minor)


def to_decimal(minor: int, currency: str) -> Decimal:
    """Minor units -> an exact Decimal in major units (129900, USD -> Decimal('1299.00'))."""
    digits = exponent(currency)
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def format_money(minor: int, currency: str) -> str:
    """``129900, "USD"`` -> ``"$1,299.00"``; unknown symbols print the code: ``"CHF 12.00"``."""
    amount = to_decimal(abs(minor), currency)
    digits = exponent(currency)
    text = f"{amount:,.{digits}f}"
    sign = "-" if minor < 0 else ""
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{currency} {text}"


def average_minor(total_minor: int, count: int) -> int:
    """Average order value in minor units, rounded half up (integer arithmetic only)."""
    if count <= 0:
        return 0
    return int((Decimal(total_minor) / Decimal(count)).quantize(Decimal(1), ROUND_HALF_UP))
