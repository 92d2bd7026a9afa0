/**
 * `/private` and `/login`: a stream behind a session cookie. Without the
 * cookie its viewer is refused (4401) before any frame; after signing in it
 * is admitted and the page shows the stream's controls (the API retunes the
 * private stream for signed-in sessions only).
 *
 * @module
 */

import { Island } from "../components/island.tsx";
import { Layout } from "../components/layout.tsx";
import { Controls, type StreamSettings } from "../islands/controls.tsx";
import { Viewer } from "../islands/viewer.tsx";

/** What the private page shows. */
export interface PrivateData {
  /** rfb mount path. */
  base: string;
  /** Whether the request carried a valid session. */
  signedIn: boolean;
  /** A message after a failed sign-in. */
  error?: string;
  /** The signed-in user's name. */
  user?: string;
  /** The stream's settings, for the controls (signed in only). */
  settings?: StreamSettings;
}

/** The private stream page, with the sign-in form. */
export function PrivatePage(
  { base, signedIn, error, user, settings }: PrivateData,
) {
  const viewer = { stream: "private", base, hud: false };
  return (
    <Layout title="Private" active="/private">
      <div class="stream-page">
        <section class="stream-main">
          <Island name="Viewer" props={viewer} class="stage big">
            <Viewer {...viewer} />
          </Island>
          <p class="muted">
            A paint canvas only signed-in viewers may watch and draw on. Drag to
            paint, scroll to change the brush, press <kbd>c</kbd> to clear.
          </p>
        </section>
        <aside class="side">
          {signedIn
            ? (
              <>
                <form method="post" action="/logout" class="controls">
                  <p>
                    You are signed in{user ? ` as ${user}` : ""}: the stream
                    admits you, and you may retune it.
                  </p>
                  <button type="submit">Sign out</button>
                </form>
                {settings && (
                  <>
                    <h2>Settings</h2>
                    <Island
                      name="Controls"
                      props={{ stream: "private", settings }}
                    >
                      <Controls stream="private" settings={settings} />
                    </Island>
                  </>
                )}
              </>
            )
            : (
              <form method="post" action="/login" class="controls">
                <p>
                  Signed out: the viewer is refused with close code 4401. The
                  password is <code>rfb</code>.
                </p>
                <label>
                  Name
                  <input name="name" autocomplete="username" required />
                </label>
                <label>
                  Password
                  <input
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                  />
                </label>
                {error && <p class="error" role="alert">{error}</p>}
                <button type="submit">Sign in</button>
              </form>
            )}
        </aside>
      </div>
    </Layout>
  );
}
