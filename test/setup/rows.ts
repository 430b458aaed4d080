// The rows of the tables tests write and read: the application's own table types (src/db/tables.ts,
// checked against the migrations), so a test and the code it tests never disagree about a column.
import type { Row } from '../../src/db/tables.ts';

export type { NewRow } from '../../src/db/tables.ts';

export type { Check as DeploymentCheck, Environment, ModelType } from '../../src/domain.ts';

export type ProviderRecord = Row<'ai_providers'>;
export type ModelRecord = Row<'ai_models'>;
export type FeatureRecord = Row<'ai_features'>;
export type AssignmentRecord = Row<'feature_model_assignments'>;
export type DeploymentRecord = Row<'deployments'>;
export type AuditRecord = Row<'audit_log'>;
export type HealthCheckRecord = Row<'health_checks'>;

/** A JSON body as the tests send it or read it back: fields looked at one by one. */
export type Json = Record<string, unknown>;
