"""What to do about an FC error, by ``ErrorCode``: appended to fcctl's one-line error message."""

from __future__ import annotations

HINTS = {
    "ServiceNotFound": "see the services with 'fcctl service list'",
    "FunctionNotFound": "see the functions with 'fcctl function list SERVICE'",
    "TriggerNotFound": "see the triggers with 'fcctl trigger list SERVICE/FUNCTION'",
    "VersionNotFound": "see the versions with 'fcctl version list SERVICE'",
    "AliasNotFound": "see the aliases with 'fcctl alias list SERVICE'",
    "DomainNameNotFound": "check the domain name the custom domain was created with",
    "LayerNotFound": "see the layers with 'fcctl layer list'",
    "ServiceAlreadyExists": "change it with 'fcctl service update'",
    "FunctionAlreadyExists": "change it with 'fcctl function update' or 'fcctl function deploy'",
    "TriggerAlreadyExists": "change it with 'fcctl trigger update'",
    "PreconditionFailed": "read the resource again for its current ETag",
    "InvalidAccessKeyID": "check the key pair in effect with 'fcctl config'",
    "SignatureNotMatch": "check the key secret in effect with 'fcctl config'",
    "AccessDenied": "the key's policy does not allow this; ask the operator for access",
    "ResourceExhausted": "too many instances at once: retry later, or raise the limit",
    "InvalidArgument": "fix the value named above; 'fcctl COMMAND --help' lists the options",
    "MissingRequiredHeader": "this client sent an incomplete request; please report it",
    "EntityTooLarge": "send less: the request body is over the daemon's limit",
    "ServiceNotEmpty": "delete its functions, versions and aliases first",
    "FunctionNotEmpty": "delete its triggers first ('fcctl trigger list SERVICE/FUNCTION')",
    "ConcurrentUpdateError": "someone else changed it at the same time: run the command again",
}


def hint(code: str) -> str:
    """``"; <what to do>"`` for an FC error code, or empty when there is nothing to add."""
    found = HINTS.get(code)
    return f"; {found}" if found else ""
