"""An emulator of Microsoft Graph v1.0 (SharePoint lists, Planner, Excel, Teams, mail) and of the Microsoft
identity platform's v2.0 token endpoint, for the sandbox.

`GraphApp.from_seed(portfolio)` renders a `hub.sandbox.seed.SeedPortfolio` as one tenant:

- a SharePoint site "PMO" (`SITE_HOST:/sites/PMO`) with four lists keyed by the project key in a "Jira Key"
  column: "PMO Register" (one item per project, with the hub-owned "PMO Compliance", "PMO Open Violations"
  and "PMO Compliance Changed" columns, empty until the hub writes them), "RAID Log", "Status Reports" and
  "Approvals", plus the hidden "User Information List" that person columns point into (Graph returns a person
  column as `<InternalName>LookupId`). Display names and internal names differ as they do in SharePoint
  ("Approved Budget" is `ApprovedBudget0`, "Planned Start" is `Planned_x0020_Start`, the title column is shown
  as "Project Name"), "Approved FTE" is a text column (people type "2,5" into those), and date-only columns
  hold the UTC instant of local midnight in the site's time zone (`SITE_TIME_ZONE`);
- a Microsoft 365 group "PMO Delivery" owning one Planner plan per project (title "KEY – name") with buckets
  per status, work items as tasks titled "[KEY-n] summary" labelled by type (category1 = "Milestone"),
  milestones as tasks labelled "Milestone", and a hub-owned task "PMO compliance" in bucket "Governance";
- an Excel workbook "Finance/PMO Budget.xlsx" in the site's drive, sheet "Budget": budget lines per project
  (Approved, Actual, Forecast), a blank row and a Total row;
- a team "PMO" with a channel "Governance" (channel messages) and mailboxes for the hub and the PMO (sendMail,
  sent items).

Protocol: bearer tokens from `POST /{tenant}/oauth2/v2.0/token` (client credentials with the app's client
secret or a certificate assertion; OIDC metadata at `/{tenant}/v2.0/.well-known/openid-configuration`, so msal
works with `instance_discovery=False`), or a person's device-code sign-in (`POST /{tenant}/oauth2/v2.0/devicecode`,
approved in tests with `app.dir.approve(user_code, email)`, then refresh tokens); tokens expire
(`token_lifetime_s`) and an expired or unknown token is a 401 with Graph's `InvalidAuthenticationToken` body. List items page with `$top` / `@odata.nextLink`; `delta`
pages end in an `@odata.deltaLink`, deleted items come back as `{"id", "deleted": {"state": "deleted"}}`, and a
token older than the list's resync horizon answers 410 `resyncRequired`. Planner objects carry `@odata.etag`;
PATCH needs `If-Match` (400 without it, 412 when stale). `POST /v1.0/$batch` takes at most 20 requests, honours
`dependsOn`, and runs every inner request through the sandbox server, so faults and rate limits hit inner
requests one by one (an inner 429 carries its own Retry-After).

Controls (no auth): GET /_sandbox/graph/app (tenant, client id and secret, site, group, team, drive item ids),
GET/POST /_sandbox/graph/settings (`token_lifetime_s`, `max_page`), POST /_sandbox/graph/expire-tokens,
POST /_sandbox/graph/expire-delta (JSON {"list": display name or omitted for every list}),
GET /_sandbox/graph/messages, GET /_sandbox/graph/mail. Tests in-process use `edit_item`, `edit_task`,
`expire_tokens`, `expire_delta`, `messages` and `mails`.

Simplified against real Graph: one tenant, one site, one app registration (application permissions are not
modelled: the app may do everything); OData is a subset ($top, $expand=fields with an optional $select,
$select on plans/tasks is ignored, no $filter/$orderby); delta tokens are signed offsets into a per-list change
sequence and paging within an enumeration is by item id; a list item PATCH neither needs nor checks If-Match;
Planner task lists page by 100; Excel ranges are read-only values (no formulas, formats or sessions);
posting channel messages is allowed app-only here, while real Graph allows it only for migration (use a
delegated token or a Teams workflow in production); sendMail stores the message instead of delivering it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets as _secrets
import time as _time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from email.message import Message
from typing import Any, Callable
from urllib.parse import parse_qs, quote, unquote, urlsplit
from zoneinfo import ZoneInfo

from hub.sandbox.seed import DEPARTMENTS, PHASES, SeedPortfolio, SeedProject
from hub.sandbox.server import App, HTTPError, Request, Response, Route

UTC = timezone.utc
SITE_HOST = "pmo.sharepoint.example"
SITE_PATH = "PMO"
SITE_TIME_ZONE = "Europe/London"
HUB_MAILBOX = "pmo-hub@example.com"
PMO_MAILBOX = "pmo-office@example.com"
WORKBOOK_PATH = "Finance/PMO Budget.xlsx"
WORKSHEET = "Budget"
GOVERNANCE_TASK = "PMO compliance"
BATCH_MAX = 20
PLANNER_PAGE = 100
TEAMS_MAX_BYTES = 28 * 1024
_NS = uuid.UUID("6d1c9a56-1f0e-4a55-9a39-5a1d6f0a7c11")
COMPLIANCE_CHOICES = ("Compliant", "At risk", "Non-compliant", "Not assessed")
RAG_CHOICES = ("Green", "Amber", "Red")
TAG_CHOICES = ("strategic", "regulatory", "cost-saving", "customer", "risk-reduction", "growth")
PLANNER_CATEGORIES = {"category1": "Milestone", "category2": "Story", "category3": "Task", "category4": "Bug",
                      "category5": "Sub-task"}
PLANNER_PRIORITY = {"Blocker": 1, "Highest": 1, "High": 3, "Medium": 5, "Low": 9, "Lowest": 9}
PLANNER_BUCKETS = ("To Do", "In Progress", "In Review", "Done", "Milestones", "Governance")
BUDGET_LINES = ("Labour", "Software & licences", "Hardware & hosting")


def guid(*parts: object) -> str:
    """A deterministic GUID for the sandbox's objects."""
    return str(uuid.uuid5(_NS, ":".join(str(p) for p in parts)))


def _iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def local_midnight(d: date, tz: str = SITE_TIME_ZONE) -> str:
    """How SharePoint (and Planner) hold a date-only value: the UTC instant of local midnight."""
    return _iso(datetime.combine(d, time(), tzinfo=ZoneInfo(tz)))


def graph_error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message,
                      "innerError": {"date": _iso(_now()), "request-id": str(uuid.uuid4()),
                                     "client-request-id": str(uuid.uuid4())}}}


_CODES = {400: "invalidRequest", 401: "InvalidAuthenticationToken", 403: "accessDenied", 404: "itemNotFound",
          405: "methodNotAllowed", 409: "conflict", 410: "resyncRequired", 412: "preconditionFailed",
          413: "RequestEntityTooLarge", 424: "FailedDependency", 429: "TooManyRequests", 500: "generalException",
          502: "badGateway", 503: "serviceNotAvailable", 504: "gatewayTimeout"}


def _fail(status: int, message: str, code: str | None = None, headers: dict | None = None) -> HTTPError:
    return HTTPError(status, message, body=graph_error(code or _CODES.get(status, "generalException"), message),
                     headers=headers)


# ---- the directory: tenant, app registration, tokens --------------------------------------------------------
@dataclass
class _Token:
    client_id: str
    expires_at: float  # time.time()


class Directory:
    """The tenant: its id, the hub's app registration (secret and certificate) and the tokens issued."""

    def __init__(self, secret: str = "sandbox"):
        self.tenant_id = guid("tenant", secret)
        self.domain = "example.com"
        self.client_id = guid("app", "pmo-hub", secret)
        self.app_name = "pmo-hub"
        key = hashlib.sha256(f"pmo-hub-graph-secret:{secret}".encode()).digest()
        # the shape of an Entra client secret: three characters, "8Q~", then 34 more
        raw = base64.b64encode(key).decode().replace("+", "-").replace("/", "_").rstrip("=")
        self.client_secret = raw[:3] + "8Q~" + raw[3:37]
        self.token_lifetime_s = 3599
        self.tokens: dict[str, _Token] = {}
        self.token_requests = 0
        self.device_flows: dict[str, dict] = {}  # device code -> {user_code, scope, approved_by, expires_at}
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # refresh token -> (e-mail, scope)
        self._cert_pem: str | None = None
        self._cert_public: Any = None

    # a certificate credential for the same app registration (RSA: msal signs PS256/RS256 assertions)
    def certificate_pem(self) -> str:
        """PEM of a private key and its self-signed certificate registered on the app (created on first use)."""
        if self._cert_pem is None:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
            from cryptography.x509.oid import NameOID

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pmo-hub sandbox client")])
            now = datetime.now(UTC) - timedelta(minutes=5)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now)
                    .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
            pem = serialization.Encoding.PEM
            self._cert_pem = (key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()).decode()
                              + cert.public_bytes(pem).decode())
            self._cert_public = cert.public_key()
        return self._cert_pem

    def issue(self, client_id: str) -> dict:
        token = "eyJ0eXAiOiJKV1QiLCJzYngiOnRydWV9." + _secrets.token_urlsafe(48)
        self.tokens[token] = _Token(client_id, _time.time() + self.token_lifetime_s)
        self.token_requests += 1
        return {"token_type": "Bearer", "expires_in": self.token_lifetime_s,
                "ext_expires_in": self.token_lifetime_s, "access_token": token}

    def issue_delegated(self, client_id: str, email: str, scope: str, issuer: str) -> dict:
        """Tokens for a signed-in person: access, refresh, an (unsigned) id token and client_info."""
        out = self.issue(client_id)
        oid = guid("user", email.lower())
        now = int(_time.time())
        claims = {"aud": client_id, "iss": issuer, "iat": now, "nbf": now, "exp": now + self.token_lifetime_s,
                  "name": email.split("@")[0], "oid": oid, "preferred_username": email, "sub": oid,
                  "tid": self.tenant_id, "ver": "2.0"}

        def b64(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

        rt = "0.sbx." + _secrets.token_urlsafe(48)
        self.refresh_tokens[rt] = (email, scope)
        plain = " ".join(s for s in scope.split() if s not in ("openid", "profile", "offline_access"))
        out.update({"scope": plain, "refresh_token": rt, "id_token": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.",
                    "client_info": b64({"uid": oid, "utid": self.tenant_id})})
        return out

    def approve(self, user_code: str, email: str) -> None:
        """The person enters the code at the verification page and signs in as `email`."""
        for flow in self.device_flows.values():
            if flow["user_code"] == user_code:
                flow["approved_by"] = email
                return
        raise KeyError(f"no device-code sign-in with user code {user_code!r}")

    def expire_tokens(self) -> int:
        """Make every issued token expired (the clients' caches still think them valid)."""
        for t in self.tokens.values():
            t.expires_at = 0.0
        return len(self.tokens)


class LoginApp(App):
    """The Microsoft identity platform's v2.0 endpoints for the sandbox tenant (system "login")."""

    system = "login"

    def __init__(self, directory: Directory):
        super().__init__()
        self.dir = directory
        t = directory.tenant_id
        self.prefixes = (f"/{t}/", f"/{directory.domain}/", "/common/", "/organizations/")
        self.route("GET", "/{tenant}/v2.0/.well-known/openid-configuration", self.h_openid)
        self.route("POST", "/{tenant}/oauth2/v2.0/token", self.h_token)
        self.route("POST", "/{tenant}/oauth2/v2.0/devicecode", self.h_device_code)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": "temporarily_unavailable" if status >= 429 else "invalid_request",
                "error_description": message, "error_codes": [50000 + status]}

    def _tenant(self, req: Request) -> str:
        tenant = req.params["tenant"]
        if tenant in ("common", "organizations"):
            raise HTTPError(400, "", body=_aad_error("invalid_request", 700016, (
                "AADSTS50059: No tenant-identifying information found in either the request or implied by any "
                "provided credentials. Use a tenant-specific authority for client credentials.")))
        if tenant not in (self.dir.tenant_id, self.dir.domain):
            raise HTTPError(400, "", body=_aad_error("invalid_tenant", 90002, f"AADSTS90002: Tenant '{tenant}' not found."))
        return self.dir.tenant_id

    def h_openid(self, req: Request) -> dict:
        self._tenant(req)
        base = f"{req.base_url}/{req.params['tenant']}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{req.base_url}/{self.dir.tenant_id}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "sandbox",
            "msgraph_host": urlsplit(req.base_url).netloc,
        }

    def h_device_code(self, req: Request) -> dict:
        self._tenant(req)
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        if form.get("client_id") != self.dir.client_id:
            raise HTTPError(400, "", body=_aad_error("unauthorized_client", 700016, (
                f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found.")))
        code = _secrets.token_urlsafe(32)
        user_code = _secrets.token_hex(4).upper()
        self.dir.device_flows[code] = {"user_code": user_code, "scope": form.get("scope", ""), "approved_by": None,
                                       "expires_at": _time.time() + 900}
        return {"device_code": code, "user_code": user_code, "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": 900, "interval": 1,
                "message": f"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and "
                           f"enter the code {user_code} to authenticate."}

    def _delegated(self, req: Request, form: dict) -> dict:
        issuer = f"{req.base_url}/{self.dir.tenant_id}/v2.0"
        if form.get("grant_type") == "refresh_token":
            found = self.dir.refresh_tokens.get(form.get("refresh_token", ""))
            if found is None:
                raise HTTPError(400, "", body=_aad_error("invalid_grant", 70000, "AADSTS70000: The refresh token "
                                                         "is invalid or expired."))
            return self.dir.issue_delegated(form.get("client_id", ""), found[0], found[1], issuer)
        flow = self.dir.device_flows.get(form.get("device_code", ""))
        if flow is None or flow["expires_at"] < _time.time():
            raise HTTPError(400, "", body=_aad_error("expired_token", 70020, "AADSTS70020: The provided value for "
                                                     "the input parameter 'device_code' is not valid."))
        if not flow["approved_by"]:
            raise HTTPError(400, "", body=_aad_error("authorization_pending", 70016, "AADSTS70016: OAuth 2.0 device "
                                                     "flow error. Authorization is pending. Continue polling."))
        self.dir.device_flows.pop(form["device_code"])
        return self.dir.issue_delegated(form.get("client_id", ""), flow["approved_by"], flow["scope"], issuer)

    def h_token(self, req: Request) -> dict:
        self._tenant(req)
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") in ("urn:ietf:params:oauth:grant-type:device_code", "refresh_token"):
            return self._delegated(req, form)
        if form.get("grant_type") != "client_credentials":
            raise HTTPError(400, "", body=_aad_error("unsupported_grant_type", 70003,
                                                     "AADSTS70003: The app requested an unsupported grant type."))
        client_id = form.get("client_id", "")
        if client_id != self.dir.client_id:
            raise HTTPError(400, "", body=_aad_error("unauthorized_client", 700016, (
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory.")))
        scope = form.get("scope", "")
        if not scope.endswith("/.default") or " " in scope.strip():
            raise HTTPError(400, "", body=_aad_error("invalid_scope", 1002012, (
                "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource identifier (application ID URI).")))
        if "client_assertion" in form:
            self._check_assertion(req, form)
        else:
            given = form.get("client_secret", "")
            if not hmac.compare_digest(given.encode(), self.dir.client_secret.encode()):
                raise HTTPError(401, "", body=_aad_error("invalid_client", 7000215, (
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is "
                    "the client secret value, not the client secret ID.")))
        return self.dir.issue(client_id)

    def _check_assertion(self, req: Request, form: dict) -> None:
        import jwt

        bad = HTTPError(401, "", body=_aad_error("invalid_client", 700027, (
            "AADSTS700027: Client assertion failed signature validation.")))
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            raise bad
        if self.dir._cert_public is None:
            raise bad
        audience = f"{req.base_url}/{req.params['tenant']}/oauth2/v2.0/token"
        try:
            claims = jwt.decode(form["client_assertion"], self.dir._cert_public, algorithms=["PS256", "RS256"],
                                audience=audience, options={"require": ["exp", "aud", "iss", "sub"]})
        except jwt.PyJWTError as e:
            raise bad from e
        if claims.get("iss") != self.dir.client_id or claims.get("sub") != self.dir.client_id:
            raise bad


def _aad_error(error: str, code: int, description: str) -> dict:
    return {"error": error, "error_description": description, "error_codes": [code], "timestamp": _iso(_now()),
            "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4()),
            "error_uri": "https://login.microsoftonline.com/error?code=" + str(code)}


# ---- SharePoint -----------------------------------------------------------------------------------------------
@dataclass
class Column:
    name: str  # internal name
    display: str
    type: str  # text, note, number, currency, dateTime, choice, multichoice, boolean, person
    choices: tuple[str, ...] = ()
    read_only: bool = False
    hidden: bool = False

    @property
    def id(self) -> str:
        return guid("column", self.name)


@dataclass
class User:
    """A person of the tenant (Entra user) and, in the site, an entry of the User Information List."""

    id: str
    mail: str
    name: str
    lookup_id: int


@dataclass
class Item:
    id: int
    guid: str
    fields: dict[str, Any]
    created: datetime
    modified: datetime
    author: str  # e-mail, or "app:<client id>"
    editor: str
    version: int = 1
    seq: int = 0
    deleted: bool = False


@dataclass
class SPList:
    id: str
    name: str  # URL name
    display: str
    columns: list[Column]
    template: str = "genericList"
    hidden: bool = False
    items: dict[int, Item] = field(default_factory=dict)
    next_id: int = 1
    seq: int = 0  # change sequence: every create/update/delete gets the next number
    horizon: int = 0  # delta tokens issued before this sequence number are stale (410)
    created: datetime = field(default_factory=_now)

    def column(self, internal: str) -> Column | None:
        return next((c for c in self.columns if c.name == internal), None)


_BUILTIN = (Column("Title", "Title", "text"), Column("Modified", "Modified", "dateTime", read_only=True),
            Column("Created", "Created", "dateTime", read_only=True),
            Column("Author", "Created By", "person", read_only=True),
            Column("Editor", "Modified By", "person", read_only=True))


def _columns(title_display: str, *custom: Column) -> list[Column]:
    cols = [Column("Title", title_display, "text"), *_BUILTIN[1:], *custom]
    cols.append(Column("ContentType", "Content Type", "text", read_only=True, hidden=True))
    return cols


REGISTER_COLUMNS = _columns(
    "Project Name",
    Column("JiraKey", "Jira Key", "text"),
    Column("Department", "Department", "choice", DEPARTMENTS),
    Column("ProjectManager", "Project Manager", "person"),
    Column("Sponsor", "Sponsor", "person"),
    Column("Phase", "Phase", "choice", PHASES),
    Column("ProjectState", "Project State", "choice", ("Active", "On Hold", "Closed", "Cancelled")),
    Column("Tags", "Tags", "multichoice", TAG_CHOICES),
    Column("InitiationStatus", "Initiation Status", "choice", ("Draft", "Submitted", "Approved", "Rejected")),
    Column("InitiationSubmitted", "Initiation Submitted", "dateTime"),
    Column("InitiationDecided", "Initiation Decided", "dateTime"),
    Column("ApprovedBudget0", "Approved Budget", "currency"),
    Column("ApprovedFTE", "Approved FTE", "text"),
    Column("AssignedFTE", "Assigned FTE", "number"),
    Column("Planned_x0020_Start", "Planned Start", "dateTime"),
    Column("Planned_x0020_Finish", "Planned Finish", "dateTime"),
    Column("ForecastFinish", "Forecast Finish", "dateTime"),
    Column("BaselineStart", "Baseline Start", "dateTime"),
    Column("BaselineFinish", "Baseline Finish", "dateTime"),
    Column("BaselineCost", "Baseline Cost", "currency"),
    Column("PMOCompliance", "PMO Compliance", "choice", COMPLIANCE_CHOICES),
    Column("PMOOpenViolations", "PMO Open Violations", "number"),
    Column("PMOComplianceChanged", "PMO Compliance Changed", "dateTime"),
)
RAID_COLUMNS = _columns(
    "Title",
    Column("Reference", "Reference", "text"),
    Column("JiraKey", "Jira Key", "text"),
    Column("EntryType", "Entry Type", "choice", ("Risk", "Assumption", "Issue", "Dependency", "Action")),
    Column("Probability", "Probability", "number"),
    Column("Impact", "Impact", "number"),
    Column("Severity", "Severity", "choice", ("Low", "Medium", "High", "Critical")),
    Column("Owner", "Owner", "person"),
    Column("Response", "Response", "note"),
    Column("DueDate", "Due Date", "dateTime"),
    Column("Status0", "Status", "choice", ("Open", "Closed")),
    Column("RaisedOn", "Raised On", "dateTime"),
    Column("LastReviewed", "Last Reviewed", "dateTime"),
    Column("EscalatedtoPMO", "Escalated to PMO", "boolean"),
    Column("EscalationDate", "Escalation Date", "dateTime"),
    Column("LinkedItem", "Linked Item", "text"),
)
STATUS_COLUMNS = _columns(
    "Title",
    Column("Reference", "Reference", "text"),
    Column("JiraKey", "Jira Key", "text"),
    Column("ReportDate", "Report Date", "dateTime"),
    Column("OverallRAG", "Overall RAG", "choice", RAG_CHOICES),
    Column("ScheduleRAG", "Schedule RAG", "choice", RAG_CHOICES),
    Column("CostRAG", "Cost RAG", "choice", RAG_CHOICES),
    Column("ScopeRAG", "Scope RAG", "choice", RAG_CHOICES),
    Column("Summary", "Summary", "note"),
    Column("Actions", "Actions", "note"),
)
APPROVAL_COLUMNS = _columns(
    "Title",
    Column("Reference", "Reference", "text"),
    Column("JiraKey", "Jira Key", "text"),
    Column("RequestType", "Request Type", "choice", ("Budget", "Resource", "Infrastructure", "Change Request")),
    Column("ApprovalStatus", "Approval Status", "choice", ("Pending", "Approved", "Rejected", "Withdrawn")),
    Column("RequestedOn", "Requested On", "dateTime"),
    Column("DecidedOn", "Decided On", "dateTime"),
    Column("Amount", "Amount", "currency"),
    Column("FTE", "FTE", "number"),
    Column("Approver", "Approver", "person"),
)
# the hub-owned list of consolidated results ([m365.writeback] results_list): empty until the hub writes it
COMPLIANCE_COLUMNS = _columns(
    "Result",
    Column("Project", "Project", "text"),
    Column("Rule", "Rule", "text"),
    Column("Severity", "Severity", "choice", ("critical", "high", "medium", "low")),
    Column("ResultStatus", "Status", "choice", ("alarm", "waived", "error")),
    Column("Subject", "Subject", "text"),
    Column("Reason", "Reason", "note"),
)
USER_INFO_COLUMNS = [Column("Title", "Name", "text"), Column("EMail", "Work email", "text"),
                     Column("UserName", "User name", "text"), Column("Modified", "Modified", "dateTime", read_only=True),
                     Column("Created", "Created", "dateTime", read_only=True)]


# ---- Planner, Excel, Teams, mail ------------------------------------------------------------------------------
@dataclass
class Task:
    id: str
    plan_id: str
    bucket_id: str
    title: str
    created: datetime
    created_by: str  # user id
    percent: int = 0
    priority: int = 5
    start: str | None = None
    due: str | None = None
    completed: datetime | None = None
    completed_by: str | None = None
    categories: dict[str, bool] = field(default_factory=dict)
    assignees: list[str] = field(default_factory=list)  # user ids
    version: int = 1
    order_hint: str = ""

    @property
    def etag(self) -> str:
        return 'W/"' + base64.b64encode(f"'1-Task@@@@@@@@@@@@@@@@{self.version:08d}'".encode()).decode() + '"'


@dataclass
class Plan:
    id: str
    title: str
    group_id: str
    created: datetime
    created_by: str
    buckets: dict[str, str] = field(default_factory=dict)  # bucket id -> name
    tasks: list[str] = field(default_factory=list)  # task ids in creation order
    version: int = 1

    @property
    def etag(self) -> str:
        return 'W/"' + base64.b64encode(f"'1-Plan@@@@@@@@@@@@@@@@{self.version:08d}'".encode()).decode() + '"'


@dataclass
class Workbook:
    item_id: str
    name: str
    path: str
    modified: datetime
    sheets: dict[str, list[list[Any]]] = field(default_factory=dict)


def _col_letter(n: int) -> str:
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _parse_cell(ref: str) -> tuple[int, int]:
    letters = "".join(ch for ch in ref if ch.isalpha()).upper()
    digits = "".join(ch for ch in ref if ch.isdigit())
    if not letters or not digits or letters + digits != ref.upper().replace("$", ""):
        raise ValueError(ref)
    col = 0
    for ch in letters:
        col = col * 26 + (ord(ch) - 64)
    return int(digits) - 1, col - 1


# ---- the app --------------------------------------------------------------------------------------------------
class GraphApp(App):
    """Microsoft Graph v1.0 for the sandbox (system "graph"); `login_app` serves the token endpoint."""

    system = "graph"
    prefixes = ("/v1.0/",)

    def __init__(self, *, secret: str = "sandbox", site_time_zone: str = SITE_TIME_ZONE):
        super().__init__()
        self.dir = Directory(secret)
        self.login_app = LoginApp(self.dir)
        self._sign = hashlib.sha256(f"pmo-hub-graph-delta:{secret}".encode()).digest()
        self.site_time_zone = site_time_zone
        self.site_collection = guid("site-collection", SITE_PATH)
        self.web = guid("web", SITE_PATH)
        self.site_id = f"{SITE_HOST},{self.site_collection},{self.web}"
        self.site_url = f"https://{SITE_HOST}/sites/{SITE_PATH}"
        self.drive_id = "b!" + base64.urlsafe_b64encode(hashlib.sha256(self.site_id.encode()).digest()).decode()[:60]
        self.group_id = guid("group", "PMO Delivery")
        self.team_id = guid("team", "PMO")
        self.channel_id = "19:" + hashlib.sha1(b"pmo-governance").hexdigest()[:32] + "@thread.tacv2"
        self.lists: dict[str, SPList] = {}  # by id
        self.users: dict[str, User] = {}  # by id
        self._by_mail: dict[str, User] = {}
        self.plans: dict[str, Plan] = {}
        self.tasks: dict[str, Task] = {}
        self.workbooks: dict[str, Workbook] = {}  # by item id
        self.messages: list[dict] = []  # channel messages, oldest first
        self.mails: list[dict] = []  # sent mail, oldest first
        self.max_page = 1000
        self.user_info = self.add_list("User Information List", "users", USER_INFO_COLUMNS, hidden=True,
                                       template="userInformation")
        for mailbox, name in ((HUB_MAILBOX, "PMO Hub"), (PMO_MAILBOX, "PMO Office")):
            self.add_user(mailbox, name)
        self._register_routes()

    # ---- building ----
    @classmethod
    def from_seed(cls, portfolio: SeedPortfolio, **kw: Any) -> "GraphApp":
        app = cls(**kw)
        _SeedLoader(app, portfolio).load()
        return app

    def add_user(self, mail: str, name: str) -> User:
        key = mail.lower()
        if key in self._by_mail:
            return self._by_mail[key]
        lookup = self.user_info.next_id
        user = User(guid("user", key), key, name, lookup)
        self.users[user.id] = user
        self._by_mail[key] = user
        self._create_item(self.user_info, {"Title": name, "EMail": key, "UserName": key}, _now() - timedelta(days=400),
                          HUB_MAILBOX)
        return user

    def user_by_mail(self, mail: str) -> User:
        return self._by_mail[mail.lower()]

    def add_list(self, display: str, name: str, columns: list[Column], *, hidden: bool = False,
                 template: str = "genericList") -> SPList:
        lst = SPList(guid("list", display), name, display, list(columns), template=template, hidden=hidden)
        self.lists[lst.id] = lst
        return lst

    def list_by_display(self, display: str) -> SPList:
        for lst in self.lists.values():
            if lst.display == display:
                return lst
        raise KeyError(f"no list {display!r}; lists: {sorted(x.display for x in self.lists.values())}")

    def _create_item(self, lst: SPList, fields: dict[str, Any], when: datetime, by: str) -> Item:
        iid = lst.next_id
        lst.next_id += 1
        lst.seq += 1
        item = Item(iid, guid("item", lst.id, iid), {k: v for k, v in fields.items() if v is not None}, when, when,
                    by, by, seq=lst.seq)
        lst.items[iid] = item
        return item

    def add_item(self, display: str, fields: dict[str, Any], *, when: datetime, by: str) -> Item:
        return self._create_item(self.list_by_display(display), fields, when, by)

    # ---- test and control helpers ----
    def edit_item(self, display: str, item_id: int, fields: dict[str, Any], *, by: str = PMO_MAILBOX) -> Item:
        """A person edits an item in the browser: raw values by internal name, no type checks (None clears)."""
        with self.lock:
            lst = self.list_by_display(display)
            item = lst.items[item_id]
            for k, v in fields.items():
                if v is None:
                    item.fields.pop(k, None)
                else:
                    item.fields[k] = v
            self._touch(lst, item, by)
            return item

    def delete_item(self, display: str, item_id: int) -> None:
        with self.lock:
            lst = self.list_by_display(display)
            item = lst.items[item_id]
            item.deleted = True
            lst.seq += 1
            item.seq = lst.seq

    def item_by_key(self, display: str, column: str, value: str) -> Item:
        lst = self.list_by_display(display)
        for item in lst.items.values():
            if not item.deleted and item.fields.get(column) == value:
                return item
        raise KeyError(f"no item with {column} = {value!r} in {display!r}")

    def edit_task(self, task_id: str, **changes: Any) -> Task:
        """A person edits a Planner task (bumps its ETag)."""
        with self.lock:
            task = self.tasks[task_id]
            for k, v in changes.items():
                setattr(task, k, v)
            task.version += 1
            return task

    def expire_tokens(self) -> int:
        with self.lock:
            return self.dir.expire_tokens()

    def expire_delta(self, display: str | None = None) -> None:
        """Make every delta token issued so far for the list(s) stale: the next delta call answers 410."""
        with self.lock:
            for lst in self.lists.values():
                if display is None or lst.display == display:
                    lst.seq += 1
                    lst.horizon = lst.seq

    def governance_task(self, project_key: str) -> Task:
        for plan in self.plans.values():
            if plan.title.startswith(project_key + " "):
                for tid in plan.tasks:
                    if self.tasks[tid].title.startswith(GOVERNANCE_TASK):
                        return self.tasks[tid]
        raise KeyError(project_key)

    def registration(self) -> dict:
        wb = next(iter(self.workbooks.values()), None)
        return {"tenant_id": self.dir.tenant_id, "client_id": self.dir.client_id,
                "client_secret": self.dir.client_secret, "site": f"{SITE_HOST}:/sites/{SITE_PATH}",
                "site_id": self.site_id, "group_id": self.group_id, "team_id": self.team_id,
                "channel_id": self.channel_id, "hub_mailbox": HUB_MAILBOX, "pmo_mailbox": PMO_MAILBOX,
                "workbook_path": wb.path if wb else None, "workbook_id": wb.item_id if wb else None,
                "worksheet": WORKSHEET, "site_time_zone": self.site_time_zone}

    # ---- App hooks ----
    def error_body(self, status: int, message: str) -> Any:
        return graph_error(_CODES.get(status, "generalException"), message)

    def authenticate(self, req: Request) -> None:
        header = req.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="", error="invalid_token", '
                                         'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise _fail(401, "Access token is empty.", "InvalidAuthenticationToken", challenge)
        info = self.dir.tokens.get(token.strip())
        if info is None:
            raise _fail(401, "Access token validation failure. Invalid audience.", "InvalidAuthenticationToken",
                        challenge)
        if info.expires_at <= _time.time():
            raise _fail(401, "Lifetime validation failed, the token is expired.", "InvalidAuthenticationToken",
                        challenge)
        req.client_id = info.client_id  # type: ignore[attr-defined]

    def control(self, req: Request) -> Response | None:
        path, method = req.path, req.method
        if not path.startswith("/_sandbox/graph/"):
            return None
        with self.lock:
            if path == "/_sandbox/graph/app" and method == "GET":
                return Response(200, self.registration())
            if path == "/_sandbox/graph/settings" and method == "GET":
                return Response(200, {"token_lifetime_s": self.dir.token_lifetime_s, "max_page": self.max_page})
            if path == "/_sandbox/graph/settings" and method == "POST":
                body = req.json() or {}
                unknown = sorted(set(body) - {"token_lifetime_s", "max_page"}) if isinstance(body, dict) else ["?"]
                if unknown:
                    return Response(400, {"error": f"unknown setting(s) {unknown}; valid: ['max_page', 'token_lifetime_s']"})
                if "token_lifetime_s" in body:
                    self.dir.token_lifetime_s = max(1, int(body["token_lifetime_s"]))
                if "max_page" in body:
                    self.max_page = max(1, int(body["max_page"]))
                return Response(204)
            if path == "/_sandbox/graph/expire-tokens" and method == "POST":
                return Response(200, {"expired": self.expire_tokens()})
            if path == "/_sandbox/graph/expire-delta" and method == "POST":
                body = req.json() or {}
                try:
                    self.expire_delta(body.get("list") if isinstance(body, dict) else None)
                except KeyError as e:
                    return Response(400, {"error": str(e)})
                return Response(204)
            if path == "/_sandbox/graph/messages" and method == "GET":
                return Response(200, {"messages": list(self.messages)})
            if path == "/_sandbox/graph/mail" and method == "GET":
                return Response(200, {"mail": list(self.mails)})
        return None

    # ---- routes ----
    def _register_routes(self) -> None:
        r = self.route
        site = "/v1.0/sites/{site}"
        r("GET", "/v1.0/sites/{host}:/sites/{path}", self.h_site_by_path)
        r("GET", site, self.h_site)
        r("GET", site + "/lists", self.h_lists)
        r("GET", site + "/lists/{list}", self.h_list)
        r("GET", site + "/lists/{list}/columns", self.h_columns)
        r("GET", site + "/lists/{list}/items", self.h_items)
        r("GET", site + "/lists/{list}/items/delta", self.h_delta)
        r("GET", site + "/lists/{list}/items/delta()", self.h_delta)
        r("POST", site + "/lists/{list}/items", self.h_create_item, write=True)
        r("GET", site + "/lists/{list}/items/{item}", self.h_item)
        r("DELETE", site + "/lists/{list}/items/{item}", self.h_delete_item, write=True)
        r("GET", site + "/lists/{list}/items/{item}/fields", self.h_item_fields)
        r("PATCH", site + "/lists/{list}/items/{item}/fields", self.h_patch_fields, write=True)
        # drive items by path: the path has slashes, so this route gets a hand-written pattern
        import re

        self.routes.append(Route("GET", site + "/drive/root:/{path}",
                                 re.compile(r"^/v1\.0/sites/(?P<site>[^/]+)/drive/root:/(?P<path>.+?):?$"),
                                 self.h_drive_item_by_path, False))
        for base in (site + "/drive/items/{item}/workbook", "/v1.0/drives/{drive}/items/{item}/workbook"):
            r("GET", base + "/worksheets", self.h_worksheets)
            r("GET", base + "/worksheets/{sheet}/range(address='{address}')", self.h_range)
            r("GET", base + "/worksheets/{sheet}/usedRange", self.h_used_range)
            r("GET", base + "/worksheets/{sheet}/usedRange(valuesOnly={values_only})", self.h_used_range)
        r("GET", "/v1.0/groups/{group}/planner/plans", self.h_group_plans)
        r("GET", "/v1.0/planner/plans/{plan}", self.h_plan)
        r("GET", "/v1.0/planner/plans/{plan}/details", self.h_plan_details)
        r("GET", "/v1.0/planner/plans/{plan}/buckets", self.h_buckets)
        r("GET", "/v1.0/planner/plans/{plan}/tasks", self.h_plan_tasks)
        r("GET", "/v1.0/planner/tasks/{task}", self.h_task)
        r("PATCH", "/v1.0/planner/tasks/{task}", self.h_patch_task, write=True)
        r("GET", "/v1.0/users/{user}", self.h_user)
        r("POST", "/v1.0/users/{user}/sendMail", self.h_send_mail, write=True)
        r("GET", "/v1.0/users/{user}/mailFolders/{folder}/messages", self.h_folder_messages)
        r("POST", "/v1.0/teams/{team}/channels/{channel}/messages", self.h_post_message, write=True)
        r("GET", "/v1.0/teams/{team}/channels/{channel}/messages", self.h_channel_messages)
        r("POST", "/v1.0/$batch", self.h_batch)

    # ---- helpers ----
    def _site_or_404(self, req: Request) -> None:
        ref = unquote(req.params["site"])
        if ref not in (self.site_id, f"{SITE_HOST},{self.site_collection}", self.site_collection, "root"):
            raise _fail(404, "Requested site could not be found", "itemNotFound")

    def _list_or_404(self, req: Request) -> SPList:
        self._site_or_404(req)
        ref = unquote(req.params["list"])
        lst = self.lists.get(ref)
        if lst is None:
            lst = next((x for x in self.lists.values() if x.display == ref or x.name == ref), None)
        if lst is None:
            raise _fail(404, "The requested list was not found", "itemNotFound")
        return lst

    def _item_or_404(self, lst: SPList, ref: str) -> Item:
        try:
            item = lst.items.get(int(ref))
        except ValueError:
            item = None
        if item is None or item.deleted:
            raise _fail(404, "The resource could not be found.", "itemNotFound")
        return item

    def _top(self, req: Request, default: int) -> int:
        raw = req.arg("$top")
        if raw is None:
            return min(default, self.max_page)
        try:
            n = int(raw)
        except ValueError:
            raise _fail(400, f"Invalid $top value '{raw}'", "invalidRequest")
        if n < 1:
            raise _fail(400, f"Invalid $top value '{raw}'", "invalidRequest")
        return min(n, self.max_page)

    def _identity(self, who: str) -> dict:
        if who.startswith("app:"):
            return {"application": {"id": who[4:], "displayName": self.dir.app_name},
                    "user": {"displayName": "SharePoint App"}}
        user = self._by_mail.get(who.lower())
        if user is None:
            return {"user": {"displayName": who}}
        return {"user": {"email": user.mail, "id": user.id, "displayName": user.name}}

    def _person_lookup(self, who: str) -> str:
        if who.startswith("app:"):
            return "1073741822"  # SharePoint's "SharePoint App" pseudo-user
        user = self._by_mail.get(who.lower())
        return str(user.lookup_id) if user else "1073741823"

    @staticmethod
    def _expand_fields(req: Request) -> tuple[bool, set[str] | None]:
        """($expand=fields requested?, the $select inside it or None)."""
        raw = req.arg("$expand") or req.arg("expand") or ""
        for part in _split_top_level(raw):
            part = part.strip()
            if part == "fields":
                return True, None
            if part.startswith("fields(") and part.endswith(")"):
                inner = part[len("fields("):-1]
                for opt in inner.split(";"):
                    k, _, v = opt.partition("=")
                    if k.strip().lower() in ("$select", "select"):
                        return True, {s.strip() for s in v.split(",") if s.strip()}
                return True, None
        return False, None

    def _fields_json(self, lst: SPList, item: Item, select: set[str] | None) -> dict:
        out: dict[str, Any] = {"@odata.etag": f'"{item.guid},{item.version}"'}
        for col in lst.columns:
            if col.name in ("Modified", "Created", "Author", "Editor", "ContentType"):
                continue
            value = item.fields.get(col.name)
            if value is None:
                continue
            if select is not None and col.name not in select:
                continue
            if col.type == "person":
                out[f"{col.name}LookupId"] = str(value)
            elif col.type == "multichoice":
                out[f"{col.name}@odata.type"] = "Collection(Edm.String)"
                out[col.name] = list(value)
            else:
                out[col.name] = value
        extra = {"id": str(item.id), "ContentType": "Item", "Modified": _iso(item.modified),
                 "Created": _iso(item.created), "AuthorLookupId": self._person_lookup(item.author),
                 "EditorLookupId": self._person_lookup(item.editor), "_UIVersionString": f"{item.version}.0",
                 "Attachments": False, "Edit": "", "ItemChildCount": "0", "FolderChildCount": "0",
                 "_ComplianceFlags": "", "_ComplianceTag": "", "_ComplianceTagWrittenTime": "",
                 "_ComplianceTagUserId": ""}
        if "Title" in item.fields:
            extra["LinkTitleNoMenu"] = extra["LinkTitle"] = item.fields["Title"]
        for k, v in extra.items():
            if select is None or k in select or k == "id":
                out[k] = v
        return out

    def _item_json(self, req: Request, lst: SPList, item: Item, *, fields: bool, select: set[str] | None) -> dict:
        out = {
            "@odata.etag": f'"{item.guid},{item.version}"',
            "createdDateTime": _iso(item.created),
            "eTag": f'"{item.guid},{item.version}"',
            "id": str(item.id),
            "lastModifiedDateTime": _iso(item.modified),
            "webUrl": f"{self.site_url}/Lists/{lst.name}/{item.id}_.000",
            "createdBy": self._identity(item.author),
            "lastModifiedBy": self._identity(item.editor),
            "parentReference": {"id": lst.id, "siteId": self.site_id},
            "contentType": {"id": "0x0100" + hashlib.md5(lst.id.encode()).hexdigest().upper(), "name": "Item"},
        }
        if fields:
            out["fields@odata.context"] = (f"{req.base_url}/v1.0/$metadata#sites('{quote(self.site_id)}')/lists("
                                           f"'{lst.id}')/items('{item.id}')/fields/$entity")
            out["fields"] = self._fields_json(lst, item, select)
        return out

    def _touch(self, lst: SPList, item: Item, by: str) -> None:
        now = max(_now(), item.modified + timedelta(seconds=1))
        item.modified = now
        item.editor = by
        item.version += 1
        lst.seq += 1
        item.seq = lst.seq

    # ---- sites and lists ----
    def _site_json(self, req: Request) -> dict:
        return {"@odata.context": f"{req.base_url}/v1.0/$metadata#sites/$entity",
                "createdDateTime": "2021-03-01T09:00:00Z", "description": "Project Management Office",
                "id": self.site_id, "lastModifiedDateTime": _iso(_now()), "name": SITE_PATH,
                "webUrl": self.site_url, "displayName": "PMO",
                "root": {}, "siteCollection": {"hostname": SITE_HOST}}

    def h_site_by_path(self, req: Request) -> dict:
        if unquote(req.params["host"]) != SITE_HOST or unquote(req.params["path"]) != SITE_PATH:
            raise _fail(404, "Requested site could not be found", "itemNotFound")
        return self._site_json(req)

    def h_site(self, req: Request) -> dict:
        self._site_or_404(req)
        return self._site_json(req)

    def _list_json(self, lst: SPList) -> dict:
        return {"@odata.etag": f'"{lst.id},{lst.seq}"', "createdDateTime": _iso(lst.created),
                "description": "", "eTag": f'"{lst.id},{lst.seq}"', "id": lst.id,
                "lastModifiedDateTime": _iso(max((i.modified for i in lst.items.values()), default=lst.created)),
                "name": lst.name, "webUrl": f"{self.site_url}/Lists/{lst.name}", "displayName": lst.display,
                "createdBy": self._identity(PMO_MAILBOX),
                "parentReference": {"siteId": self.site_id},
                "list": {"contentTypesEnabled": False, "hidden": lst.hidden, "template": lst.template}}

    def h_lists(self, req: Request) -> dict:
        self._site_or_404(req)
        return {"@odata.context": f"{req.base_url}/v1.0/$metadata#sites('{quote(self.site_id)}')/lists",
                "value": [self._list_json(x) for x in self.lists.values() if not x.hidden]}

    def h_list(self, req: Request) -> dict:
        return self._list_json(self._list_or_404(req))

    def _column_json(self, col: Column) -> dict:
        out: dict[str, Any] = {
            "columnGroup": "Custom Columns" if col.name not in ("Title", "Modified", "Created", "Author", "Editor",
                                                                 "ContentType") else "Base Columns",
            "description": "", "displayName": col.display, "enforceUniqueValues": False, "hidden": col.hidden,
            "id": col.id, "indexed": col.name == "JiraKey", "name": col.name, "readOnly": col.read_only,
            "required": col.name == "Title",
        }
        if col.type in ("text",):
            out["text"] = {"allowMultipleLines": False, "appendChangesToExistingText": False, "linesForEditing": 0,
                           "maxLength": 255}
        elif col.type == "note":
            out["text"] = {"allowMultipleLines": True, "appendChangesToExistingText": False, "linesForEditing": 6,
                           "maxLength": 63999, "textType": "plain"}
        elif col.type == "number":
            out["number"] = {"decimalPlaces": "automatic", "displayAs": "number"}
        elif col.type == "currency":
            out["currency"] = {"locale": "en-GB"}
        elif col.type == "dateTime":
            out["dateTime"] = {"displayAs": "default",
                               "format": "dateTime" if col.name in ("Modified", "Created") else "dateOnly"}
        elif col.type in ("choice", "multichoice"):
            out["choice"] = {"allowTextEntry": False, "choices": list(col.choices),
                             "displayAs": "checkBoxes" if col.type == "multichoice" else "dropDownMenu"}
        elif col.type == "boolean":
            out["boolean"] = {}
        elif col.type == "person":
            out["personOrGroup"] = {"allowMultipleSelection": False, "chooseFromType": "peopleOnly",
                                    "displayAs": "nameWithPresence"}
        return out

    def h_columns(self, req: Request) -> dict:
        lst = self._list_or_404(req)
        return {"@odata.context": f"{req.base_url}/v1.0/$metadata#sites('{quote(self.site_id)}')/lists('{lst.id}')/columns",
                "value": [self._column_json(c) for c in lst.columns]}

    def h_items(self, req: Request) -> dict:
        lst = self._list_or_404(req)
        fields, select = self._expand_fields(req)
        top = self._top(req, 200)
        after = 0
        skip = req.arg("$skiptoken")
        if skip:
            after = self._read_skiptoken(skip)
        live = [i for i in sorted(lst.items.values(), key=lambda x: x.id) if not i.deleted and i.id > after]
        page = live[:top]
        out: dict[str, Any] = {
            "@odata.context": f"{req.base_url}/v1.0/$metadata#sites('{quote(self.site_id)}')/lists('{lst.id}')/items",
            "value": [self._item_json(req, lst, i, fields=fields, select=select) for i in page]}
        if len(live) > top:
            out["@odata.nextLink"] = self._link(req, {"$skiptoken": self._skiptoken(page[-1].id)})
        return out

    @staticmethod
    def _skiptoken(last_id: int) -> str:
        return base64.b64encode(f"Paged=TRUE&p_ID={last_id}".encode()).decode().rstrip("=")

    @staticmethod
    def _read_skiptoken(token: str) -> int:
        try:
            text = base64.b64decode(token + "=" * (-len(token) % 4)).decode()
            return int(parse_qs(text)["p_ID"][0])
        except (binascii.Error, UnicodeDecodeError, KeyError, ValueError):
            raise _fail(400, "The $skiptoken is not valid.", "invalidRequest")

    @staticmethod
    def _link(req: Request, params: dict[str, str]) -> str:
        query = {k: v[0] for k, v in req.query.items() if not k.startswith("$skiptoken") and k != "token"}
        query.update(params)
        qs = "&".join(f"{quote(k, safe='$')}={quote(str(v), safe='')}" for k, v in query.items())
        return f"{req.base_url}{req.path}?{qs}"

    def h_item(self, req: Request) -> dict:
        lst = self._list_or_404(req)
        item = self._item_or_404(lst, req.params["item"])
        fields, select = self._expand_fields(req)
        return self._item_json(req, lst, item, fields=fields, select=select)

    def h_item_fields(self, req: Request) -> dict:
        lst = self._list_or_404(req)
        item = self._item_or_404(lst, req.params["item"])
        return self._fields_json(lst, item, None)

    # ---- delta ----
    def _delta_token(self, lst: SPList, since: int, upto: int, after: int) -> str:
        raw = json.dumps([lst.id, since, upto, after], separators=(",", ":")).encode()
        mac = hmac.new(self._sign, raw, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(raw + mac).decode().rstrip("=")

    def _read_delta_token(self, lst: SPList, token: str) -> tuple[int, int, int]:
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            raw, mac = blob[:-12], blob[-12:]
            if not hmac.compare_digest(mac, hmac.new(self._sign, raw, hashlib.sha256).digest()[:12]):
                raise ValueError("signature")
            list_id, since, upto, after = json.loads(raw)
            if list_id != lst.id:
                raise ValueError("list")
            return int(since), int(upto), int(after)
        except (binascii.Error, ValueError, TypeError):
            raise _fail(400, "Invalid delta token.", "invalidRequest")

    def h_delta(self, req: Request) -> Response | dict:
        lst = self._list_or_404(req)
        fields, select = self._expand_fields(req)
        top = self._top(req, 200)
        token = req.arg("token")
        if token is None:
            since, upto, after = -1, lst.seq, 0  # a fresh enumeration: every live item, no tombstones
        else:
            since, upto, after = self._read_delta_token(lst, token)
            if after == 0:  # a delta link: a new round, whose own delta link comes after what it returns
                upto = lst.seq
            if since >= 0 and since < lst.horizon:
                fresh = f"{req.base_url}{req.path}"
                raise HTTPError(410, "", headers={"Location": fresh}, body={"error": {
                    "code": "resyncRequired",
                    "message": "Resync required. Replace any local items with the server's version (including "
                               "deletes) if you're sure that the service was up to date with your local changes "
                               "when you last sync'd. Upload any local changes that the server doesn't know about.",
                    "innerError": {"code": "resyncChangesApplyDifferences", "date": _iso(_now()),
                                   "request-id": str(uuid.uuid4())}}})
        if since < 0:
            changed = [i for i in lst.items.values() if not i.deleted]
        else:
            changed = [i for i in lst.items.values() if i.seq > since]
        changed = sorted((i for i in changed if i.id > after), key=lambda x: x.id)
        page = changed[:top]
        value = []
        for i in page:
            if i.deleted:
                value.append({"id": str(i.id), "deleted": {"state": "deleted"}})
            else:
                value.append(self._item_json(req, lst, i, fields=fields, select=select))
        out: dict[str, Any] = {
            "@odata.context": f"{req.base_url}/v1.0/$metadata#Collection(listItem)", "value": value}
        base_params = {k: v[0] for k, v in req.query.items() if k not in ("token",)}
        qs = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in base_params.items())
        prefix = f"{req.base_url}{req.path}?" + (qs + "&" if qs else "")
        if len(changed) > top:
            out["@odata.nextLink"] = prefix + "token=" + self._delta_token(lst, since, upto, page[-1].id)
        else:
            # the next round starts at the sequence this enumeration began with: a change made while it was
            # paging comes again next time rather than never
            out["@odata.deltaLink"] = prefix + "token=" + self._delta_token(lst, upto, upto, 0)
        return out

    # ---- writing list items ----
    def _convert(self, col: Column, value: Any) -> Any:
        if value is None:
            return None
        t = col.type
        if t in ("text", "note"):
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError("a text value")
            text = str(value)
            if t == "text" and len(text) > 255:
                raise ValueError("at most 255 characters")
            return text
        if t in ("number", "currency"):
            if isinstance(value, bool):
                raise ValueError("a number")
            if isinstance(value, (int, float)):
                return value
            try:
                return float(str(value))
            except ValueError:
                raise ValueError("a number") from None
        if t == "dateTime":
            try:
                dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("a date and time (ISO 8601)") from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            return _iso(dt)
        if t == "choice":
            if str(value) not in col.choices:
                raise ValueError(f"one of {list(col.choices)}")
            return str(value)
        if t == "multichoice":
            if not isinstance(value, list) or any(str(v) not in col.choices for v in value):
                raise ValueError(f"a list of {list(col.choices)}")
            return [str(v) for v in value]
        if t == "boolean":
            if not isinstance(value, bool):
                raise ValueError("true or false")
            return value
        if t == "person":
            try:
                lookup = int(value)
            except (TypeError, ValueError):
                raise ValueError("a user lookup id") from None
            if lookup not in self.user_info.items:
                raise ValueError("a user of the site")
            return lookup
        return value

    def _field_values(self, lst: SPList, body: Any) -> dict[str, Any]:
        """A request's field values by internal name, converted and checked as SharePoint does."""
        if not isinstance(body, dict) or not body:
            raise _fail(400, "Invalid request: the body must be a JSON object of field values.", "invalidRequest")
        changes: dict[str, Any] = {}
        for name, value in body.items():
            key = name[:-len("LookupId")] if name.endswith("LookupId") else name
            col = lst.column(key)
            if col is None or col.hidden:
                raise _fail(400, f"Field '{name}' is not recognized", "invalidRequest")
            if col.read_only:
                raise _fail(400, f"Field '{name}' is read-only", "invalidRequest")
            try:
                changes[key] = self._convert(col, value)
            except ValueError as e:
                raise _fail(400, f"Invalid value for field '{name}': expected {e}", "invalidRequest")
        return changes

    def h_create_item(self, req: Request) -> Response:
        lst = self._list_or_404(req)
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            raise _fail(400, "Invalid request: expected {\"fields\": {...}}.", "invalidRequest")
        fields = self._field_values(lst, body["fields"])
        item = self._create_item(lst, fields, _now(), "app:" + getattr(req, "client_id", self.dir.client_id))
        return Response(201, self._item_json(req, lst, item, fields=True, select=None))

    def h_delete_item(self, req: Request) -> Response:
        lst = self._list_or_404(req)
        item = self._item_or_404(lst, req.params["item"])
        item.deleted = True
        lst.seq += 1
        item.seq = lst.seq
        return Response(204, None)

    def h_patch_fields(self, req: Request) -> dict:
        lst = self._list_or_404(req)
        item = self._item_or_404(lst, req.params["item"])
        body = req.json()
        match = req.headers.get("If-Match")
        if match and match.strip() not in ("*", f'"{item.guid},{item.version}"'):
            raise _fail(412, "The request ETag value does not match the object's ETag value.", "preconditionFailed")
        changes = self._field_values(lst, body)
        for k, v in changes.items():
            if v is None:
                item.fields.pop(k, None)
            else:
                item.fields[k] = v
        self._touch(lst, item, "app:" + getattr(req, "client_id", self.dir.client_id))
        return {"@odata.context": f"{req.base_url}/v1.0/$metadata#sites('{quote(self.site_id)}')/lists('{lst.id}')/"
                                  f"items('{item.id}')/fields/$entity", **self._fields_json(lst, item, None)}

    # ---- drive and workbook ----
    def _workbook_or_404(self, req: Request) -> Workbook:
        if "site" in req.params:
            self._site_or_404(req)
        elif unquote(req.params["drive"]) != self.drive_id:
            raise _fail(404, "The resource could not be found.", "itemNotFound")
        wb = self.workbooks.get(unquote(req.params["item"]))
        if wb is None:
            raise _fail(404, "The resource could not be found.", "itemNotFound")
        return wb

    def h_drive_item_by_path(self, req: Request) -> dict:
        self._site_or_404(req)
        path = unquote(req.params["path"]).strip("/")
        wb = next((w for w in self.workbooks.values() if w.path == path), None)
        if wb is None:
            raise _fail(404, "The resource could not be found.", "itemNotFound")
        return {"@odata.context": f"{req.base_url}/v1.0/$metadata#sites('{quote(self.site_id)}')/drive/root/$entity",
                "createdDateTime": _iso(wb.modified - timedelta(days=90)), "eTag": f'"{{{wb.item_id}}},3"',
                "id": wb.item_id, "lastModifiedDateTime": _iso(wb.modified), "name": wb.name,
                "webUrl": f"{self.site_url}/Shared%20Documents/{quote(wb.path)}", "cTag": f'"c:{{{wb.item_id}}},3"',
                "size": 24_576, "parentReference": {"driveType": "documentLibrary", "driveId": self.drive_id},
                "file": {"mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}}

    def _sheet_or_404(self, req: Request, wb: Workbook) -> tuple[str, list[list[Any]]]:
        name = unquote(req.params["sheet"]).strip("'")
        for sheet, rows in wb.sheets.items():
            if sheet.lower() == name.lower() or guid("sheet", wb.item_id, sheet) == name:
                return sheet, rows
        raise _fail(404, f"The requested resource doesn't exist.", "ItemNotFound")

    def h_worksheets(self, req: Request) -> dict:
        wb = self._workbook_or_404(req)
        return {"value": [{"@odata.id": f"/sites('{self.site_id}')/drive/items('{wb.item_id}')/workbook/worksheets("
                                        f"'{guid('sheet', wb.item_id, name)}')",
                           "id": "{" + guid("sheet", wb.item_id, name).upper() + "}", "name": name, "position": n,
                           "visibility": "Visible"} for n, name in enumerate(wb.sheets)]}

    def _range_json(self, req: Request, sheet: str, rows: list[list[Any]], r0: int, c0: int, r1: int, c1: int) -> dict:
        values = []
        for r in range(r0, r1 + 1):
            row = rows[r] if r < len(rows) else []
            values.append([(row[c] if c < len(row) and row[c] is not None else "") for c in range(c0, c1 + 1)])
        types = [["Empty" if v == "" else "Double" if isinstance(v, (int, float)) and not isinstance(v, bool)
                  else "Boolean" if isinstance(v, bool) else "String" for v in row] for row in values]
        text = [[("" if v == "" else f"{v:,.2f}" if isinstance(v, float) else str(v)) for v in row] for row in values]
        fmt = [["General" if not isinstance(v, float) else "#,##0.00" for v in row] for row in values]
        address = f"{sheet}!{_col_letter(c0)}{r0 + 1}:{_col_letter(c1)}{r1 + 1}"
        return {"@odata.context": f"{req.base_url}/v1.0/$metadata#workbookRange",
                "@odata.type": "#microsoft.graph.workbookRange", "@odata.id": f"/workbook/worksheets/{sheet}/range",
                "address": address, "addressLocal": address, "cellCount": len(values) * (c1 - c0 + 1),
                "columnCount": c1 - c0 + 1, "columnHidden": False, "columnIndex": c0, "formulas": values,
                "formulasLocal": values, "formulasR1C1": values, "hidden": False, "numberFormat": fmt,
                "rowCount": len(values), "rowHidden": False, "rowIndex": r0, "text": text, "valueTypes": types,
                "values": values}

    def h_range(self, req: Request) -> dict:
        wb = self._workbook_or_404(req)
        sheet, rows = self._sheet_or_404(req, wb)
        address = unquote(req.params["address"])
        if "!" in address:
            address = address.split("!", 1)[1]
        try:
            a, _, b = address.partition(":")
            r0, c0 = _parse_cell(a)
            r1, c1 = _parse_cell(b or a)
        except ValueError:
            raise _fail(400, "The argument is invalid or missing or has an incorrect format.", "InvalidArgument")
        if r1 < r0 or c1 < c0 or (r1 - r0 + 1) * (c1 - c0 + 1) > 5_000_000:
            raise _fail(400, "The argument is invalid or missing or has an incorrect format.", "InvalidArgument")
        return self._range_json(req, sheet, rows, r0, c0, r1, c1)

    def h_used_range(self, req: Request) -> dict:
        wb = self._workbook_or_404(req)
        sheet, rows = self._sheet_or_404(req, wb)
        last_row = max((n for n, row in enumerate(rows) if any(v not in (None, "") for v in row)), default=0)
        last_col = max((len(row) - 1 for row in rows if row), default=0)
        return self._range_json(req, sheet, rows, 0, 0, last_row, last_col)

    # ---- Planner ----
    def _plan_or_404(self, req: Request) -> Plan:
        plan = self.plans.get(unquote(req.params["plan"]))
        if plan is None:
            raise _fail(404, "The requested item is not found.", "NotFound")
        return plan

    def _task_or_404(self, ref: str) -> Task:
        task = self.tasks.get(unquote(ref))
        if task is None:
            raise _fail(404, "The requested item is not found.", "NotFound")
        return task

    def _plan_json(self, plan: Plan) -> dict:
        return {"@odata.etag": plan.etag, "createdDateTime": _iso(plan.created), "owner": plan.group_id,
                "title": plan.title, "id": plan.id,
                "createdBy": {"user": {"displayName": None, "id": plan.created_by},
                              "application": {"displayName": None, "id": guid("planner-app")}},
                "container": {"containerId": plan.group_id, "type": "group",
                              "url": f"https://graph.microsoft.com/v1.0/groups/{plan.group_id}"}}

    def _task_json(self, t: Task) -> dict:
        return {
            "@odata.etag": t.etag, "planId": t.plan_id, "bucketId": t.bucket_id, "title": t.title,
            "orderHint": t.order_hint, "assigneePriority": "", "percentComplete": t.percent,
            "startDateTime": t.start, "createdDateTime": _iso(t.created), "dueDateTime": t.due,
            "hasDescription": False, "previewType": "automatic", "completedDateTime": _iso(t.completed),
            "completedBy": {"user": {"displayName": None, "id": t.completed_by}} if t.completed_by else None,
            "referenceCount": 0, "checklistItemCount": 0, "activeChecklistItemCount": 0,
            "conversationThreadId": None, "priority": t.priority, "id": t.id,
            "createdBy": {"user": {"displayName": None, "id": t.created_by}},
            "appliedCategories": dict(t.categories),
            "assignments": {uid: {"@odata.type": "#microsoft.graph.plannerAssignment",
                                  "assignedDateTime": _iso(t.created),
                                  "orderHint": "8585" + hashlib.md5((t.id + uid).encode()).hexdigest()[:10],
                                  "assignedBy": {"user": {"displayName": None, "id": t.created_by}}}
                            for uid in t.assignees},
        }

    def h_group_plans(self, req: Request) -> dict:
        group = unquote(req.params["group"])
        if group != self.group_id:
            raise _fail(404, f"Resource '{group}' does not exist or one of its queried reference-property objects "
                             "are not present.", "Request_ResourceNotFound")
        return {"@odata.context": f"{req.base_url}/v1.0/$metadata#Collection(microsoft.graph.plannerPlan)",
                "@odata.count": len(self.plans),
                "value": [self._plan_json(p) for p in self.plans.values() if p.group_id == group]}

    def h_plan(self, req: Request) -> Response:
        plan = self._plan_or_404(req)
        return Response(200, self._plan_json(plan), {"ETag": plan.etag})

    def h_plan_details(self, req: Request) -> dict:
        plan = self._plan_or_404(req)
        return {"@odata.etag": plan.etag, "id": plan.id, "sharedWith": {self.group_id: True},
                "categoryDescriptions": {**{f"category{n}": None for n in range(1, 26)}, **PLANNER_CATEGORIES}}

    def h_buckets(self, req: Request) -> dict:
        plan = self._plan_or_404(req)
        return {"@odata.count": len(plan.buckets),
                "value": [{"@odata.etag": 'W/"JzEtQnVja2V0QEBAQEBAQEBAQEBAQEBAWCc="', "name": name, "planId": plan.id,
                           "orderHint": f"85857{n:03d}", "id": bid}
                          for n, (bid, name) in enumerate(plan.buckets.items())]}

    def h_plan_tasks(self, req: Request) -> dict:
        plan = self._plan_or_404(req)
        start = 0
        skip = req.arg("$skiptoken")
        if skip:
            try:
                start = int(base64.b64decode(skip + "=" * (-len(skip) % 4)).decode())
            except (binascii.Error, ValueError, UnicodeDecodeError):
                raise _fail(400, "The $skiptoken is not valid.", "BadRequest")
        ids = plan.tasks[start:start + PLANNER_PAGE]
        out: dict[str, Any] = {"@odata.context": f"{req.base_url}/v1.0/$metadata#planner/plans('{plan.id}')/tasks",
                               "@odata.count": len(plan.tasks), "value": [self._task_json(self.tasks[i]) for i in ids]}
        if start + PLANNER_PAGE < len(plan.tasks):
            token = base64.b64encode(str(start + PLANNER_PAGE).encode()).decode().rstrip("=")
            out["@odata.nextLink"] = self._link(req, {"$skiptoken": token})
        return out

    def h_task(self, req: Request) -> Response:
        task = self._task_or_404(req.params["task"])
        return Response(200, self._task_json(task), {"ETag": task.etag})

    _TASK_WRITABLE = {"title", "percentComplete", "priority", "dueDateTime", "startDateTime", "bucketId",
                      "appliedCategories", "assignments", "orderHint", "assigneePriority", "conversationThreadId"}

    def h_patch_task(self, req: Request) -> Response:
        task = self._task_or_404(req.params["task"])
        match = req.headers.get("If-Match")
        if not match:
            raise _fail(400, "The If-Match header must be specified for this kind of request.", "BadRequest")
        if match.strip() != task.etag:
            raise _fail(412, "The If-Match header contains an invalid value or the resource has changed since it "
                             "was last read.", "PreconditionFailed")
        body = req.json()
        if not isinstance(body, dict):
            raise _fail(400, "The request body must be a JSON object.", "BadRequest")
        unknown = sorted(set(body) - self._TASK_WRITABLE)
        if unknown:
            raise _fail(400, f"Invalid request: property '{unknown[0]}' does not exist or cannot be written on "
                             "plannerTask.", "BadRequest")
        if "title" in body:
            if not isinstance(body["title"], str) or not body["title"].strip() or len(body["title"]) > 255:
                raise _fail(400, "The title must be a non-empty string of at most 255 characters.", "BadRequest")
            task.title = body["title"]
        if "percentComplete" in body:
            pc = body["percentComplete"]
            if not isinstance(pc, int) or not 0 <= pc <= 100:
                raise _fail(400, "percentComplete must be an integer from 0 to 100.", "BadRequest")
            task.percent = pc
            task.completed = _now() if pc == 100 else None
        if "priority" in body:
            task.priority = int(body["priority"])
        if "dueDateTime" in body:
            task.due = body["dueDateTime"]
        if "startDateTime" in body:
            task.start = body["startDateTime"]
        if "bucketId" in body:
            task.bucket_id = body["bucketId"]
        if "appliedCategories" in body and isinstance(body["appliedCategories"], dict):
            for k, v in body["appliedCategories"].items():
                if v:
                    task.categories[k] = True
                else:
                    task.categories.pop(k, None)
        task.version += 1
        if "return=representation" in (req.headers.get("Prefer") or ""):
            return Response(200, self._task_json(task), {"ETag": task.etag})
        return Response(204, None, {"ETag": task.etag})

    # ---- users, mail and Teams ----
    def _user_or_404(self, ref: str) -> User:
        ref = unquote(ref)
        user = self.users.get(ref) or self._by_mail.get(ref.lower())
        if user is None:
            raise _fail(404, f"Resource '{ref}' does not exist or one of its queried reference-property objects are "
                             "not present.", "Request_ResourceNotFound")
        return user

    def h_user(self, req: Request) -> dict:
        u = self._user_or_404(req.params["user"])
        return {"@odata.context": f"{req.base_url}/v1.0/$metadata#users/$entity", "id": u.id, "displayName": u.name,
                "mail": u.mail, "userPrincipalName": u.mail, "businessPhones": [], "givenName": u.name.split(" ")[0],
                "surname": u.name.split(" ")[-1], "jobTitle": None, "officeLocation": None,
                "preferredLanguage": "en-GB", "mobilePhone": None}

    def h_send_mail(self, req: Request) -> Response:
        sender = self._user_or_404(req.params["user"])
        body = req.json()
        msg = body.get("message") if isinstance(body, dict) else None
        if not isinstance(msg, dict):
            raise _fail(400, "Empty Payload. JSON content expected.", "ErrorInvalidRequest")
        rcpts = msg.get("toRecipients") or []
        if not rcpts or not all(isinstance(r, dict) and (r.get("emailAddress") or {}).get("address") for r in rcpts):
            raise _fail(400, "At least one recipient is not valid., A message can't be sent because it contains no "
                             "recipients.", "ErrorInvalidRecipients")
        content = msg.get("body") or {}
        now = _now()
        self.mails.append({
            "id": "AAMkAG" + hashlib.sha256(f"{len(self.mails)}:{now}".encode()).hexdigest()[:40],
            "from": sender.mail, "subject": str(msg.get("subject") or ""),
            "body": {"contentType": content.get("contentType", "Text"), "content": str(content.get("content") or "")},
            "toRecipients": [r["emailAddress"]["address"] for r in rcpts], "sentDateTime": _iso(now),
            "saved": body.get("saveToSentItems", True) is not False,
        })
        return Response(202, None)

    def h_folder_messages(self, req: Request) -> dict:
        user = self._user_or_404(req.params["user"])
        if unquote(req.params["folder"]).lower() != "sentitems":
            raise _fail(404, "The specified folder could not be found in the store.", "ErrorItemNotFound")
        mine = [m for m in reversed(self.mails) if m["from"] == user.mail and m["saved"]]
        return self._paged(req, mine, 10, lambda m: {
            "@odata.etag": f'W/"{m["id"][-12:]}"', "id": m["id"], "subject": m["subject"],
            "body": m["body"], "sentDateTime": m["sentDateTime"], "createdDateTime": m["sentDateTime"],
            "from": {"emailAddress": {"address": m["from"], "name": self._by_mail[m["from"]].name}},
            "toRecipients": [{"emailAddress": {"address": a, "name": a}} for a in m["toRecipients"]]})

    def _paged(self, req: Request, rows: list, default: int, render: Callable[[Any], dict]) -> dict:
        top = min(self._top(req, default), 50)
        skip = req.arg("$skip") or "0"
        try:
            start = max(0, int(skip))
        except ValueError:
            raise _fail(400, "Invalid $skip value.", "BadRequest")
        page = rows[start:start + top]
        out: dict[str, Any] = {"value": [render(x) for x in page]}
        if start + top < len(rows):
            out["@odata.nextLink"] = self._link(req, {"$skip": str(start + top), "$top": str(top)})
        return out

    def h_post_message(self, req: Request) -> Response:
        if unquote(req.params["team"]) != self.team_id or unquote(req.params["channel"]) != self.channel_id:
            raise _fail(404, "Not found: the team or channel does not exist.", "NotFound")
        body = req.json()
        content = (body or {}).get("body") if isinstance(body, dict) else None
        if not isinstance(content, dict) or not str(content.get("content") or "").strip():
            raise _fail(400, "Missing message body content.", "BadRequest")
        if len(str(content["content"]).encode()) > TEAMS_MAX_BYTES:
            raise _fail(413, "Message size exceeds the limit of 28 KB.", "RequestEntityTooLarge")
        now = datetime.now(UTC)
        mid = str(int(now.timestamp() * 1000) + len(self.messages))
        msg = {
            "@odata.context": f"{req.base_url}/v1.0/$metadata#teams('{self.team_id}')/channels('{self.channel_id}')/"
                              "messages/$entity",
            "id": mid, "replyToId": None, "etag": mid, "messageType": "message", "createdDateTime": _iso(now),
            "lastModifiedDateTime": _iso(now), "lastEditedDateTime": None, "deletedDateTime": None,
            "subject": body.get("subject"), "summary": None, "chatId": None, "importance": "normal",
            "locale": "en-us", "webUrl": f"https://teams.example/l/message/{quote(self.channel_id)}/{mid}",
            "channelIdentity": {"teamId": self.team_id, "channelId": self.channel_id}, "policyViolation": None,
            "eventDetail": None,
            "from": {"application": {"@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
                                     "id": getattr(req, "client_id", self.dir.client_id),
                                     "displayName": self.dir.app_name, "applicationIdentityType": "aadApplication"},
                     "device": None, "user": None},
            "body": {"contentType": content.get("contentType", "text"), "content": str(content["content"])},
            "attachments": [], "mentions": [], "reactions": [],
        }
        self.messages.append(msg)
        return Response(201, msg)

    def h_channel_messages(self, req: Request) -> dict:
        if unquote(req.params["team"]) != self.team_id or unquote(req.params["channel"]) != self.channel_id:
            raise _fail(404, "Not found: the team or channel does not exist.", "NotFound")
        return self._paged(req, list(reversed(self.messages)), 20,
                           lambda m: {k: v for k, v in m.items() if k != "@odata.context"})

    # ---- $batch ----
    def h_batch(self, req: Request) -> dict:
        body = req.json()
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs:
            raise _fail(400, "Invalid batch payload format.", "BadRequest")
        if len(reqs) > BATCH_MAX:
            raise _fail(400, f"The number of batch requests ({len(reqs)}) exceeds the limit of {BATCH_MAX}.",
                        "BadRequest")
        ids: set[str] = set()
        for r in reqs:
            if not isinstance(r, dict) or not isinstance(r.get("id"), str) or not r.get("method") \
                    or not isinstance(r.get("url"), str):
                raise _fail(400, "Each batch request needs an id, a method and a url.", "BadRequest")
            if r["id"] in ids:
                raise _fail(400, f"Batch request id '{r['id']}' is used twice.", "BadRequest")
            deps = r.get("dependsOn") or []
            if not isinstance(deps, list) or any(d not in ids for d in deps):
                raise _fail(400, f"Batch request '{r['id']}' depends on a request that does not come before it.",
                            "BadRequest")
            ids.add(r["id"])
        outcome: dict[str, int] = {}
        responses = []
        delay = 0.0  # the slowest inner request's latency (Graph runs them side by side)
        for r in reqs:
            failed = [d for d in (r.get("dependsOn") or []) if outcome.get(d, 500) >= 400]
            if failed:
                outcome[r["id"]] = 424
                responses.append({"id": r["id"], "status": 424, "headers": {"Content-Type": "application/json"},
                                  "body": graph_error("FailedDependency", "The request depends on a failed request.")})
                continue
            status, headers, rbody = self._inner(req, r)
            delay = max(delay, getattr(req, "inner_delay_s", 0.0))
            outcome[r["id"]] = status
            entry: dict[str, Any] = {"id": r["id"], "status": status, "headers": headers}
            if rbody is not None:
                entry["body"] = rbody
            responses.append(entry)
        return Response(200, {"responses": responses}, delay_s=delay)

    def _inner(self, outer: Request, r: dict) -> tuple[int, dict, Any]:
        url = r["url"]
        if url.startswith("http"):
            parts = urlsplit(url)
            url = parts.path + (("?" + parts.query) if parts.query else "")
            if url.startswith("/v1.0"):
                url = url[len("/v1.0"):]
        if not url.startswith("/"):
            url = "/" + url
        parts = urlsplit(url)
        headers = Message()
        for k, v in (r.get("headers") or {}).items():
            headers[k] = str(v)
        if outer.headers.get("Authorization"):
            headers["Authorization"] = outer.headers["Authorization"]
        payload = r.get("body")
        raw = json.dumps(payload).encode() if payload is not None else b""
        inner = Request(str(r["method"]).upper(), "/v1.0" + parts.path, parse_qs(parts.query, keep_blank_values=True),
                        headers, raw, {})
        inner.base_url = outer.base_url
        sandbox = getattr(self, "sandbox", None)
        if sandbox is None:  # not served: dispatch directly (tests of the app alone)
            route, params, _ = self.match(inner.method, inner.path)
            if route is None:
                return 404, {}, graph_error("itemNotFound", "No route")
            inner.params = params
            try:
                self.authenticate(inner)
                out = route.handler(inner)
            except HTTPError as e:
                return e.status, dict(e.headers), e.body if e.body is not None else self.error_body(e.status, e.message)
            resp = out if isinstance(out, Response) else Response(200 if out is not None else 204, out)
        else:
            resp, _ = sandbox.dispatch(inner, inner=True)
            outer.inner_delay_s = getattr(inner, "delay_s", 0.0)  # type: ignore[attr-defined]
        headers_out = {k: v for k, v in resp.headers.items()}
        if resp.body is not None:
            headers_out.setdefault("Content-Type", "application/json")
        return resp.status, headers_out, resp.body


def _split_top_level(text: str) -> list[str]:
    """Split an OData option on commas outside parentheses: "fields($select=a,b),x" -> ["fields(...)", "x"]."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


# ---- loading a seed portfolio ---------------------------------------------------------------------------------
class _SeedLoader:
    """Renders a SeedPortfolio into the site, Planner, the workbook and the directory (see the module docstring)."""

    def __init__(self, app: GraphApp, portfolio: SeedPortfolio):
        self.app = app
        self.pf = portfolio
        self.today = portfolio.today
        self.tz = ZoneInfo(app.site_time_zone)

    def at(self, d: date, salt: int) -> datetime:
        """A working-hours timestamp on day d, never after the start of today (UTC)."""
        dt = datetime.combine(d, time(tzinfo=UTC)) + timedelta(seconds=8 * 3600 + (salt * 7919) % 28800)
        return min(dt, datetime.combine(self.today, time(tzinfo=UTC)) - timedelta(minutes=1))

    def day(self, d: date | None) -> str | None:
        return local_midnight(d, self.app.site_time_zone) if d else None

    def lookup(self, email: str | None) -> int | None:
        if not email:
            return None
        return self.app.user_by_mail(email).lookup_id

    def load(self) -> None:
        app = self.app
        for person in self.pf.people.values():
            app.add_user(person.email, person.name)
        app.add_list("PMO Register", "PMORegister", REGISTER_COLUMNS)
        app.add_list("RAID Log", "RAIDLog", RAID_COLUMNS)
        app.add_list("Status Reports", "StatusReports", STATUS_COLUMNS)
        app.add_list("Approvals", "Approvals", APPROVAL_COLUMNS)
        app.add_list("PMO Compliance", "PMOCompliance", COMPLIANCE_COLUMNS)
        rows: list[list[Any]] = [["Project Key", "Project", "Budget Line", "Approved", "Actual", "Forecast"]]
        for n, sp in enumerate(self.pf.projects):
            self.register(sp, n)
            for r in sp.raid:
                self.raid(sp, r)
            for rep in sp.status_reports:
                self.report(sp, rep)
            for a in sp.approvals:
                self.approval(sp, a)
            self.plan(sp, n)
            rows.extend(self.budget_lines(sp))
        total = [sum(float(r[k]) for r in rows[1:]) for k in (3, 4, 5)]
        rows += [["", "", "", "", "", ""], ["Total", "", "", *total]]
        item_id = "01" + hashlib.sha1(WORKBOOK_PATH.encode()).hexdigest()[:32].upper()
        app.workbooks[item_id] = Workbook(item_id, WORKBOOK_PATH.rsplit("/", 1)[-1], WORKBOOK_PATH,
                                          self.at(self.today - timedelta(days=2), 5), {WORKSHEET: rows})

    def register(self, sp: SeedProject, n: int) -> None:
        init = sp.initiation
        fields = {
            "Title": sp.name, "JiraKey": sp.key, "Department": sp.department,
            "ProjectManager": self.lookup(sp.pm), "Sponsor": self.lookup(sp.sponsor), "Phase": sp.phase,
            "ProjectState": {"active": "Active", "on_hold": "On Hold", "closed": "Closed",
                             "cancelled": "Cancelled"}[sp.state],
            "Tags": list(sp.tags) or None, "InitiationStatus": init.status.capitalize(),
            "InitiationSubmitted": self.day(init.submitted_on), "InitiationDecided": self.day(init.decided_on),
            "ApprovedBudget0": sp.budget_approved, "ApprovedFTE": _fte_text(sp.fte_approved),
            "AssignedFTE": sp.fte_assigned, "Planned_x0020_Start": self.day(sp.planned_start),
            "Planned_x0020_Finish": self.day(sp.planned_finish), "ForecastFinish": self.day(sp.forecast_finish),
        }
        if sp.baseline is not None:
            fields.update({"BaselineStart": self.day(sp.baseline.start), "BaselineFinish": self.day(sp.baseline.finish),
                           "BaselineCost": sp.baseline.cost})
        created = sp.created
        modified = max([created, *(h.at for h in sp.phase_history)])
        item = self.app.add_item("PMO Register", fields, when=created, by=sp.pm)
        item.modified = modified

    def raid(self, sp: SeedProject, r) -> None:
        created = self.at(r.raised_on, len(r.key))
        fields = {
            "Title": r.title, "Reference": r.key, "JiraKey": sp.key,
            "EntryType": {"risk": "Risk", "issue": "Issue", "action": "Action", "assumption": "Assumption",
                          "dependency": "Dependency"}.get(r.kind, "Risk"),
            "Probability": r.probability, "Impact": r.impact,
            "Severity": r.severity.capitalize() if r.severity else None, "Owner": self.lookup(r.owner),
            "Response": r.response, "DueDate": self.day(r.due), "Status0": r.status.capitalize(),
            "RaisedOn": self.day(r.raised_on), "LastReviewed": self.day(r.last_reviewed),
            "EscalatedtoPMO": bool(r.escalated), "EscalationDate": self.day(r.escalated_on),
            "LinkedItem": r.linked_item,
        }
        item = self.app.add_item("RAID Log", fields, when=created, by=sp.pm)
        if r.last_reviewed:
            item.modified = max(created, self.at(r.last_reviewed, 7))

    def report(self, sp: SeedProject, rep) -> None:
        actions = "\n".join(
            f"{a.text}" + (f" (owner: {a.owner}" + (f", due: {a.due.isoformat()})" if a.due else ")") if a.owner
                           else (f" (due: {a.due.isoformat()})" if a.due else ""))
            for a in rep.actions) or None
        fields = {"Title": f"Status report {rep.report_date:%d %b %Y}", "Reference": rep.key, "JiraKey": sp.key,
                  "ReportDate": self.day(rep.report_date),
                  "OverallRAG": rep.overall.capitalize() if rep.overall else None,
                  "ScheduleRAG": rep.schedule.capitalize() if rep.schedule else None,
                  "CostRAG": rep.cost.capitalize() if rep.cost else None,
                  "ScopeRAG": rep.scope.capitalize() if rep.scope else None,
                  "Summary": rep.summary, "Actions": actions}
        self.app.add_item("Status Reports", fields, when=self.at(rep.report_date, len(rep.key)),
                          by=rep.author or sp.pm)

    def approval(self, sp: SeedProject, a) -> None:
        fields = {"Title": a.title, "Reference": a.key, "JiraKey": sp.key,
                  "RequestType": {"budget": "Budget", "resource": "Resource", "infrastructure": "Infrastructure",
                                  "change_request": "Change Request"}[a.kind],
                  "ApprovalStatus": a.status.capitalize(), "RequestedOn": self.day(a.requested_on),
                  "DecidedOn": self.day(a.decided_on), "Amount": a.amount, "FTE": a.fte,
                  "Approver": self.lookup(a.approver)}
        created = max(sp.created, self.at(a.requested_on, 11))
        item = self.app.add_item("Approvals", fields, when=created, by=a.requested_by or sp.pm)
        if a.decided_on:
            item.modified = max(created, self.at(a.decided_on, 13))

    def plan(self, sp: SeedProject, n: int) -> None:
        app = self.app
        pm = app.user_by_mail(sp.pm)
        plan = Plan(guid("plan", sp.key)[:28].replace("-", "x"), f"{sp.key} – {sp.name}", app.group_id,
                    sp.created, pm.id)
        plan.buckets = {guid("bucket", sp.key, b)[:28].replace("-", "y"): b for b in PLANNER_BUCKETS}
        by_name = {name: bid for bid, name in plan.buckets.items()}
        app.plans[plan.id] = plan
        cat = {v: k for k, v in PLANNER_CATEGORIES.items()}

        def add(key: str, title: str, bucket: str, created: datetime, **kw: Any) -> Task:
            t = Task(guid("task", key)[:28].replace("-", "z"), plan.id, by_name[bucket], title, created, pm.id,
                     order_hint=f"8585{len(plan.tasks):06d}", **kw)
            app.tasks[t.id] = t
            plan.tasks.append(t.id)
            return t

        for m in sp.milestones:
            done = m.done_on is not None
            add(m.key, f"[{m.key}] {m.name}", "Milestones", sp.created + timedelta(days=1), percent=100 if done else 0,
                priority=3, due=self.day(m.planned), categories={cat["Milestone"]: True},
                completed=self.at(m.done_on, 3) if done else None, completed_by=pm.id if done else None,
                assignees=[pm.id])
        for w in sp.work_items:
            percent = {"todo": 0, "in_progress": 50, "done": 100}[w.status_category]
            who = app.user_by_mail(w.assignee).id if w.assignee else None
            add(w.key, f"[{w.key}] {w.summary}"[:255], w.status, w.created, percent=percent,
                priority=PLANNER_PRIORITY.get(w.priority, 5), due=self.day(w.due),
                categories={cat.get(w.type, "category3"): True}, completed=w.resolved if percent == 100 else None,
                completed_by=who if percent == 100 else None, assignees=[who] if who else [])
        add(f"{sp.key}-governance", GOVERNANCE_TASK, "Governance", sp.created, priority=5)

    def budget_lines(self, sp: SeedProject) -> list[list[Any]]:
        import random

        rng = random.Random(f"pmo-hub-graph-budget:{sp.key}")
        shares = [rng.uniform(0.45, 0.7), rng.uniform(0.15, 0.3)]
        shares.append(1 - sum(shares))

        def split(total: float) -> list[float]:
            parts = [round(total * s, -2) for s in shares[:-1]]
            return [*parts, round(total - sum(parts), 2)]

        rows = []
        for line, approved, actual, forecast in zip(BUDGET_LINES, split(sp.budget_approved), split(sp.actual_cost),
                                                    split(sp.forecast_cost)):
            rows.append([sp.key, sp.name, line, approved, actual, forecast])
        return rows


def _fte_text(v: float | None) -> str | None:
    if v is None:
        return None
    return str(int(v)) if float(v).is_integer() else str(v)
