import type { AttemptHandler } from './attempt.js';
import { CallerController } from './caller-controller.js';

const none: readonly AttemptHandler[] = Object.freeze([]);

/**
 * The attempts of a request on the wire now: one (a field, no array per request), or several once a
 * hedge joined. A base class of the request flow, so a request stays one object.
 * @internal
 */
export abstract class RunningAttempts extends CallerController {
  /** The attempt on the wire when there is exactly one ({@link many} unset). */
  private one: AttemptHandler | undefined = undefined;
  /** The attempts on the wire once a hedge joined the first. */
  private many: AttemptHandler[] | undefined = undefined;

  /** The attempts on the wire, as a list (for the paths that are not the hot one). */
  protected runningList(): readonly AttemptHandler[] {
    if (this.many !== undefined) return this.many;
    return this.one === undefined ? none : [this.one];
  }

  /** How many attempts are on the wire. */
  protected get runningCount(): number {
    return this.many !== undefined ? this.many.length : this.one === undefined ? 0 : 1;
  }

  protected isRunning(attempt: AttemptHandler): boolean {
    return this.one === attempt || this.many?.includes(attempt) === true;
  }

  protected addRunning(attempt: AttemptHandler): void {
    if (this.one === undefined && this.many === undefined) {
      this.one = attempt;
      return;
    }
    this.many = [...this.runningList(), attempt];
    this.one = undefined;
  }

  /** Gives up on every attempt on the wire (each is aborted with `reason`). */
  protected abandonRunning(reason: Error): void {
    const running = this.runningList();
    this.one = undefined;
    this.many = undefined;
    for (const a of running) a.abandon(reason);
  }

  protected stopRunning(attempt: AttemptHandler): void {
    if (this.one === attempt) {
      this.one = undefined;
      return;
    }
    const many = this.many;
    if (many === undefined || !many.includes(attempt)) return;
    const rest = many.filter((a) => a !== attempt);
    this.many = rest.length > 0 ? rest : undefined;
  }
}
