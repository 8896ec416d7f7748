"""The built-in checks, one module per rule family. Importing this package registers them all.

    init   INIT-01..04   initiation request, sponsor and PM, profile, PMO decision time
    train  TRAIN-01..02  PM training valid before the project leaves initiation, expiring soon
    stat   STAT-01..05   status reports: fresh, complete, not greener than the data, recovery, repeated red
    appr   APPR-01..04   spend and people within approval, pending requests, unapproved baseline changes
    risk   RISK-01..06   RAID log: owner, response, review, escalation, overdue actions, unlogged blockers
    gate   GATE-01..05   tollgates: approved before the phase, complete, on time, conditions, phase order
    var    VAR-01..04    baseline set, schedule slip, cost forecast, milestones
    data   DATA-01..02   records matched across systems, systems agree
"""

# Imported in catalog order, which is the registry's order.
from hub.rules.checks import init  # noqa: F401  isort: skip
from hub.rules.checks import train  # noqa: F401  isort: skip
from hub.rules.checks import stat  # noqa: F401  isort: skip
from hub.rules.checks import appr  # noqa: F401  isort: skip
from hub.rules.checks import risk  # noqa: F401  isort: skip
from hub.rules.checks import gate  # noqa: F401  isort: skip
from hub.rules.checks import var  # noqa: F401  isort: skip
from hub.rules.checks import data  # noqa: F401  isort: skip
