/**
 * Who a viewer is and what it may do. A stream's `control` mode says who
 * drives (`"shared"`: every viewer with the `"control"` role, `"exclusive"`:
 * one of them at a time, `"none"`: nobody); a viewer's role comes from the
 * `authenticate` hook on the server (an object with `role`, `name`, `id`,
 * anything else), or is the display's `defaultRole`. Nothing a client sends
 * can change it.
 *
 * @module
 */

/**
 * The roles a viewer can have: `"control"` (may drive) and `"view"` (only
 * watches).
 *
 * @example
 * ```ts
 * import { ROLES } from "./identity.ts";
 * console.log(ROLES.join(" | ")); // control | view
 * ```
 */
export const ROLES: readonly Role[] = ["control", "view"];

/** A viewer's role: `"control"` may drive, `"view"` only watches. */
export type Role = "control" | "view";

/**
 * The values of the `control` option.
 *
 * @example
 * ```ts
 * import { CONTROL_MODES } from "./identity.ts";
 * console.log(CONTROL_MODES.join(" | ")); // shared | exclusive | none
 * ```
 */
export const CONTROL_MODES: readonly ControlMode[] = [
  "shared",
  "exclusive",
  "none",
];

/**
 * Who drives a stream: `"shared"` (every control-role viewer, the default),
 * `"exclusive"` (one control-role viewer at a time, handed over on request)
 * or `"none"` (nobody: a broadcast).
 */
export type ControlMode = "shared" | "exclusive" | "none";

/** What a session knows about its viewer once it is admitted. */
export interface ViewerIdentity {
  /** The name the hook gave (`name`), or null. */
  name: string | null;
  /** The role the hook gave (`role`), else the display's `defaultRole`. */
  role: Role;
  /** What the hook returned, as given (undefined when there is no hook). */
  user: unknown;
}

/** The longest name kept for a viewer (longer ones are cut). */
const MAX_NAME = 128;

/**
 * A viewer's identity from what its `authenticate` hook returned (`hooked`
 * false: there was no hook). An object may carry `name` (a string, or a
 * number) and `role`; any other truthy value admits with `defaultRole`. A
 * role other than `"control"` or `"view"` is a mistake in the hook: the
 * viewer gets the lesser role, `"view"`, and `problem` says why.
 *
 * @example
 * ```ts
 * import { identityOf } from "./identity.ts";
 * const { identity } = identityOf({ id: 7, name: "Ada", role: "view" }, true, "control");
 * console.log(identity.name, identity.role); // Ada view
 * ```
 */
export function identityOf(
  result: unknown,
  hooked: boolean,
  defaultRole: Role,
): { identity: ViewerIdentity; problem: string | null } {
  const identity: ViewerIdentity = {
    name: null,
    role: defaultRole,
    user: hooked ? result : undefined,
  };
  if (typeof result !== "object" || result === null || Array.isArray(result)) {
    return { identity, problem: null };
  }
  const { name, role } = result as { name?: unknown; role?: unknown };
  if (typeof name === "string" && name.trim() !== "") {
    identity.name = name.trim().slice(0, MAX_NAME);
  } else if (typeof name === "number" && Number.isFinite(name)) {
    identity.name = String(name);
  }
  if (role === undefined) return { identity, problem: null };
  if ((ROLES as readonly unknown[]).includes(role)) {
    identity.role = role as Role;
    return { identity, problem: null };
  }
  identity.role = "view";
  const shown = typeof role === "string"
    ? JSON.stringify(role.slice(0, 40))
    : typeof role;
  return {
    identity,
    problem:
      `authenticate returned role ${shown}; a role is "control" or "view": admitted as "view"`,
  };
}
