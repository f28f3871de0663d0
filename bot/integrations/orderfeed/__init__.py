"""The signed generic order feed: ``POST /webhooks/orders`` for every shop that is not Shopify."""
