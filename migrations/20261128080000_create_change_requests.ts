import type { Knex } from 'knex';

// Protected environments (issue 14): an environment whose policy asks for a second admin's approval
// takes a model change as a change request; another admin approves it (then the deployment pipeline
// runs) or rejects it; a request not decided by its expiry time expires. No row for an environment
// means it is not protected.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE environment_policies (
      environment       text PRIMARY KEY CHECK (environment IN ('development', 'staging', 'production')),
      requires_approval boolean NOT NULL,
      updated_by        text NOT NULL,
      updated_at        timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE change_requests (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      feature_id        uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      environment       text NOT NULL CHECK (environment IN ('development', 'staging', 'production')),
      kind              text NOT NULL CHECK (kind IN ('assign', 'promote', 'rollback')),
      model_id          uuid NOT NULL REFERENCES ai_models (id) ON DELETE RESTRICT,
      -- What served the environment when the change was asked for: approving a request planned
      -- against an assignment that has moved since is refused.
      previous_model_id uuid REFERENCES ai_models (id) ON DELETE RESTRICT,
      status            text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'approved', 'applied', 'refused', 'rejected', 'expired')),
      requested_by_kind text NOT NULL CHECK (requested_by_kind IN ('user', 'token')),
      requested_by_id   uuid NOT NULL,
      requested_by      text NOT NULL,
      reason            text NOT NULL DEFAULT '',
      requested_at      timestamptz NOT NULL DEFAULT now(),
      expires_at        timestamptz NOT NULL,
      decided_by_id     uuid,
      decided_by        text,
      decided_at        timestamptz,
      decision_note     text,
      deployment_id     uuid REFERENCES deployments (id) ON DELETE RESTRICT,
      CHECK ((status = 'pending') = (decided_at IS NULL)),
      CHECK (status NOT IN ('applied', 'refused') OR deployment_id IS NOT NULL),
      CHECK (expires_at > requested_at)
    );
    CREATE INDEX change_requests_pending ON change_requests (expires_at) WHERE status = 'pending';
    CREATE INDEX change_requests_recent ON change_requests (requested_at DESC);
    CREATE INDEX change_requests_feature ON change_requests (feature_id, requested_at DESC);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE change_requests; DROP TABLE environment_policies');
}
