/* Compliance modes, with the reference's names and meaning (reference
 * security/compliance.py, ComplianceLevel and ComplianceConfig.for_level):
 *
 *   development  nothing required; PARALLEL allowed (require_determinism
 *                false), for local testing only
 *   standard     the default: deterministic routing required
 *                (require_determinism true, so PARALLEL is refused)
 *   regulated    deterministic routing, a signed WAL (wal.enabled and
 *                wal.signing_key), a PII redaction policy (an enabled
 *                "redaction" section) and encryption at rest
 *                (recording.encryption)
 *
 * The reference checks its ComplianceConfig when a router is built
 * (validate_router_config, validate_wal_signing); intentus checks the
 * configuration when a runtime opens or reloads, so route, serve and the
 * console refuse to start, naming every missing requirement at once. */
#ifndef INTENTUS_CORE_COMPLIANCE_H
#define INTENTUS_CORE_COMPLIANCE_H

#include <stdbool.h>

#include "core/err.h"

enum compliance_mode { COMPLIANCE_DEVELOPMENT, COMPLIANCE_STANDARD, COMPLIANCE_REGULATED };

#define COMPLIANCE_DEFAULT COMPLIANCE_STANDARD /* the reference's ComplianceConfig() level */

/* "development", "standard" or "regulated" (the reference's values). */
const char *compliance_mode_name(enum compliance_mode m);
/* One of those names, case-insensitive ("REGULATED" as the enum is
 * spelled); -1 for anything else. */
int compliance_mode_parse(const char *text, enum compliance_mode *out);

/* What a configuration provides, for compliance_check. */
struct compliance_facts {
    bool require_determinism; /* the config's require_determinism */
    bool wal_enabled;         /* wal.enabled */
    bool wal_signing_key;     /* wal.signing_key is set */
    bool pii_policy;          /* a "redaction" section, enabled */
    bool encryption;          /* encryption at rest (recording.encryption) */
};

/* What mode requires of f: 0 when all is there; else -1 with err
 * (IERR_CONFIG) "compliance mode M requires: X; Y; Z", every missing
 * requirement named by its config key ("wal.signing_key"). */
int compliance_check(enum compliance_mode mode, const struct compliance_facts *f,
                     struct intentus_err *err);

#endif
