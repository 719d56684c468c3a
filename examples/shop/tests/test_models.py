from shop.models import Line, Order


def test_line_subtotal():
    assert Line("apple", 2.0, quantity=3).subtotal() == 6.0


def test_order_total_includes_tax():
    assert Order([Line("apple", 2.0, 2)]).total() == 5.0


def test_empty_order():
    assert Order().total() == 0
