/**
 * Whether this instance takes new work. It stops being ready when shutdown begins, so a load
 * balancer polling /readyz sends traffic elsewhere while requests already here finish.
 */
export class Readiness {
  #stopping = false;

  get stopping(): boolean {
    return this.#stopping;
  }

  beginStopping(): void {
    this.#stopping = true;
  }
}
