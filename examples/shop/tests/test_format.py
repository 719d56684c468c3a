from shop.format import money


def test_money():
    assert money(3) == "3.00 EUR"


def test_money_rounds():
    assert money(2.499) == "2.50 EUR"
