"""How a shop's or a spreadsheet's customer becomes one of ours.

``rules`` holds the rules (which part makes the name, the phone, the one-line
address); ``columns`` and ``platforms`` say where those parts are in a flat
record (a CSV row, a flat JSON object) and in Shopify's and WooCommerce's own
objects.  ``finora import`` and the shops' webhooks both go through here.
"""
