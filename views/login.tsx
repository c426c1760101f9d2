/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import { Layout } from './layout.tsx';

export function LoginPage(props: { error?: string; name?: string }) {
  return (
    <Layout title="Log in">
      <h1>Log in</h1>
      {props.error && <p class="error" role="alert">{props.error}</p>}
      <form method="post" action="/login" class="login">
        <label>
          User <input name="name" autocomplete="username" required value={props.name ?? ''} />
        </label>
        <label>
          Password <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit">Log in</button>
      </form>
    </Layout>
  );
}
