/** A clock tests move by hand, shared by the services and the token service. */
export class TestClock {
  constructor(public ms = Date.UTC(2026, 10, 22, 12, 0, 0)) {}
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
  get sec(): number {
    return Math.floor(this.ms / 1000);
  }
}
