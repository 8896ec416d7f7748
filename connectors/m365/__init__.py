"""Microsoft 365 through Microsoft Graph: SharePoint lists, Planner, an Excel range, Teams and mail.

`auth` (msal tokens, one application per tenant, the persisted cache), `client` (Graph requests, paging, delta,
`$batch`), `connector` (pull, canonical objects, write-back) and `settings` (the `[m365]` config section and
the `mappings/m365.toml` mapping).
"""
