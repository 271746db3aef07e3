"""Webhook deliveries (Standard Webhooks 1.0), made by `finora worker`.

signing     secrets and the ``webhook-*`` headers
addresses   which URLs and addresses may be called (SSRF rules)
payload     the thin JSON body of an event
sender      one HTTP attempt, to the checked address only
store       the worker's SQL: due endpoints, pending deliveries, outcomes
worker      the loop: wake on NOTIFY (or poll), claim an endpoint, send in order
"""
