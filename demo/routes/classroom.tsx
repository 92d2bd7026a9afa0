/**
 * `/classroom`: one whiteboard, many people. A signed-in presenter drives
 * (the stream's `control` is `"exclusive"`: one driver at a time, handed
 * over with the viewer's "Request control" and "Hand over" buttons, or
 * after 5 s without input); anyone else who opens the same page is in the
 * audience and only watches. Every viewer shows who is driving and how many
 * watch; the presenter's page lists everyone.
 *
 * @module
 */

import { Island } from "../components/island.tsx";
import { Layout } from "../components/layout.tsx";
import { Roster } from "../islands/roster.tsx";
import { Viewer } from "../islands/viewer.tsx";

/** What the classroom page shows. */
export interface ClassroomData {
  /** rfb mount path. */
  base: string;
  /** The signed-in presenter's name, or undefined for the audience. */
  presenter?: string;
  /** A message after a failed sign-in. */
  error?: string;
}

/** The classroom page: presenters drive, the audience watches. */
export function ClassroomPage({ base, presenter, error }: ClassroomData) {
  const viewer = { stream: "classroom", base, hud: false };
  return (
    <Layout title="Classroom" active="/classroom">
      <div class="stream-page">
        <section class="stream-main">
          <Island name="Viewer" props={viewer} class="stage big">
            <Viewer {...viewer} />
          </Island>
          <p class="muted">
            A whiteboard for a room: one presenter draws at a time (drag to
            draw, scroll for the brush, <kbd>c</kbd>{" "}
            clears), everyone else watches. Another signed-in presenter asks
            with <strong>Request control</strong>{" "}
            on the viewer; the one drawing hands over, or control passes by
            itself after 5 seconds without input.
          </p>
        </section>
        <aside class="side">
          {presenter
            ? (
              <>
                <form method="post" action="/logout" class="controls">
                  <p>
                    You present as{" "}
                    <strong>{presenter}</strong>. Share the audience link:{" "}
                    <a href="/classroom">/classroom</a>{" "}
                    (opened without signing in, it only watches).
                  </p>
                  <input type="hidden" name="next" value="/classroom" />
                  <button type="submit">Sign out</button>
                </form>
                <h2>In the room</h2>
                <Island name="Roster" props={{}}>
                  <Roster />
                </Island>
              </>
            )
            : (
              <form method="post" action="/login" class="controls">
                <p>
                  You are in the audience: you watch, and the viewer shows who
                  draws. Presenters sign in here (the password is{" "}
                  <code>rfb</code>).
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
                <input type="hidden" name="next" value="/classroom" />
                {error && <p class="error" role="alert">{error}</p>}
                <button type="submit">Sign in to present</button>
              </form>
            )}
        </aside>
      </div>
    </Layout>
  );
}
