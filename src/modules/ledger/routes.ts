import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/authenticate.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createAccountsService } from './accounts.ts';
import { createProofService } from './proof.ts';
import * as S from './schemas.ts';
import { createTransfersService } from './transfers.ts';

/**
 * The ledger API: accounts, transfers (single and linked chains, two-phase),
 * and the inclusion proof of a transfer. A replayed transfer id with the same
 * body answers the first result again, marked `idempotent-replayed: true`.
 */
export const ledgerRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const accounts = createAccountsService(platform);
  const transfers = createTransfersService(platform);
  const proofs = createProofService(platform);
  const tags = ['ledger'];
  const read = { policy: { permission: 'ledger:read' } } as const;
  const write = { policy: { permission: 'ledger:write' } } as const;

  app.get('/accounts', {
    config: { security: read },
    schema: { tags, operationId: 'ledgerListAccounts', summary: 'Ledger accounts with their balances, newest first', querystring: S.AccountListQuery, response: { 200: S.AccountPage } },
  }, async (req) => accounts.list(principalOf(req), req.query));

  app.post('/accounts', {
    config: { security: write, problems: [409] },
    schema: { tags, operationId: 'ledgerCreateAccount', summary: 'Open a ledger account (asset, balance flags)', body: S.CreateAccount, response: { 201: S.Account } },
  }, async (req, reply) => reply.code(201).send(await accounts.create(principalOf(req), req.body)));

  app.get('/accounts/:id', {
    config: { security: read, problems: [404] },
    schema: { tags, operationId: 'ledgerGetAccount', summary: 'One account with its balances, now or as of a past instant', params: S.AccountParams, querystring: S.AccountQuery, response: { 200: S.Account } },
  }, async (req) => accounts.get(principalOf(req), req.params.id, req.query.asOf));

  app.post('/accounts/:id/close', {
    config: { security: write, problems: [404, 409] },
    schema: { tags, operationId: 'ledgerCloseAccount', summary: 'Close an account for good: no new debits or credits', params: S.AccountParams, response: { 200: S.Account } },
  }, async (req) => accounts.close(principalOf(req), req.params.id));

  app.get('/transfers', {
    config: { security: { ...read, rateClass: 'expensive' } },
    schema: { tags, operationId: 'ledgerListTransfers', summary: 'Transfers by account, time range and cursor, newest first', querystring: S.TransferListQuery, response: { 200: S.TransferPage } },
  }, async (req) => transfers.list(principalOf(req), req.query));

  app.post('/transfers', {
    config: { security: write, problems: [404, 409] },
    schema: { tags, operationId: 'ledgerCreateTransfer', summary: 'Post, hold (pending), post or void a pending transfer; idempotent by id', body: S.TransferInput, response: { 201: S.Transfer } },
  }, async (req, reply) => {
    const { transfers: [t], replayed } = await transfers.create(principalOf(req), [req.body]);
    if (replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(201).send(t!);
  });

  app.post('/transfers/linked', {
    config: { security: write, problems: [404, 409] },
    schema: { tags, operationId: 'ledgerCreateLinkedTransfers', summary: 'A linked chain of up to 100 transfers that commit or fail together', body: S.LinkedTransfers, response: { 201: S.TransferChain } },
  }, async (req, reply) => {
    const result = await transfers.create(principalOf(req), req.body.transfers);
    if (result.replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(201).send({ transfers: result.transfers });
  });

  app.get('/transfers/:id', {
    config: { security: read, problems: [404] },
    schema: { tags, operationId: 'ledgerGetTransfer', summary: 'One transfer, with how a pending one was resolved', params: S.TransferParams, response: { 200: S.TransferDetail } },
  }, async (req) => transfers.get(principalOf(req), req.params.id));

  app.get('/transfers/:id/proof', {
    config: { security: read, problems: [404] },
    schema: { tags, operationId: 'ledgerGetTransferProof', summary: 'Inclusion proof of a transfer in the tenant log, with a signed checkpoint', params: S.TransferParams, response: { 200: S.TransferProof } },
  }, async (req) => proofs.proof(principalOf(req), req.params.id));
};
