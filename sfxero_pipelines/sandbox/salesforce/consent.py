"""Salesforce's consent page (`/services/oauth2/authorize`, on login.salesforce.com or a My Domain) for the
web-server flow, and the authorization codes it hands out.

- GET with `response_type=code`, `client_id`, `redirect_uri`, `scope` (e.g. `api refresh_token`), `state`
  and optionally `code_challenge` + `code_challenge_method=S256` shows an HTML "Allow Access?" page
  whose form POSTs back `decision=allow|deny`; with auto-consent the GET answers at once as if allowed.
- Allow: 302 to `redirect_uri?code=…&state=…`; deny: `?error=access_denied&state=…`. A request that
  cannot be redirected safely (unknown client, a redirect URI that is not https or loopback http) is
  answered with a 400 page instead.
- Codes are single use once exchanged, expire after 15 minutes (emulator clock) and are bound to the
  client, the redirect URI, the scopes and the PKCE challenge. The request checks and the S256 check
  are the OAuth rules the Xero consent page applies too (`..xero.consent`).
"""

from __future__ import annotations

import secrets

from ..xero.consent import (AuthorizationRequest, ConsentError, IssuedCode, form_page, parse_request, redirect_to,
                            verify_pkce)

PATH = "/services/oauth2/authorize"
CODE_TTL_S = 15 * 60

__all__ = ["AuthorizationRequest", "ConsentError", "IssuedCode", "PATH", "CODE_TTL_S", "consent_page", "new_code",
           "parse_request", "redirect_to", "verify_pkce"]


def consent_page(request: AuthorizationRequest, username: str) -> str:
    return form_page(request, path=PATH, title="Salesforce sandbox: Allow Access?", heading="Allow Access?",
                     lead=f"Signed in as {username}. The app asks to:", allow="Allow", deny="Deny")


def new_code() -> str:
    return "aPrx" + secrets.token_urlsafe(40)
