"""Shop connectors, inbound: what Shopify and WooCommerce send and how it is trusted.

- ``domains``: a shop's address as the service keeps it (one spelling per shop);
- ``deliveries``: a webhook delivery read from its headers and raw body, its
  signature and origin checked, before anything is parsed;
- ``topics``: what each topic asks of the directory, read from the platform's
  payload (the fields themselves are app.shoppers', shared with imports).

The rules that change customers are app.services.shop_sync's.
"""
